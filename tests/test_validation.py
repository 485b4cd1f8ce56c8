"""Retrieval metrics and the held-out validation that runs during training."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from standin_model import StandIn
from train_support import standin_config
from vmas_jax import losses
from vmas_jax.eval.retrieval import retrieval_metrics
from vmas_jax.sharding import make_mesh
from vmas_jax.train import state as state_lib
from vmas_jax.train.memory_data import make_example_batch
from vmas_jax.train.validate import Validator


def test_retrieval_metrics_hand_case():
  video = np.eye(4)
  music = np.eye(4)[[0, 2, 1, 3]]  # clips 1 and 2 swapped
  music[3] = [0, 0.9, 0, 0.8]      # clip 3: its own video, but video 1 is closer
  m = retrieval_metrics(music, video, ks=(1, 2))
  # sim[v, m] = music[m][v].  v2m: video 0 -> rank 1; video 1: own 0 vs music 2 (1), music 3
  # (0.9), music 0 (0, a tie counts against) -> rank 4; video 2: own 0, all tie -> 4;
  # video 3: own 0.8 -> rank 1.  m2v: music 3 ranks video 1 (0.9) above its own -> rank 2.
  assert m["v2m_r1"] == 0.5 and m["v2m_r2"] == 0.5 and m["v2m_median_rank"] == 2.5
  assert m["m2v_r1"] == 0.25 and m["m2v_r2"] == 0.5
  with pytest.raises(ValueError, match="matching"):
    retrieval_metrics(music[:3], video)


class _FixedBatches(Validator):
  """Validator over given host batches (the last one short) instead of the configured data."""
  batches = ()

  def _local_batches(self):
    yield from self.batches


def test_validator_masks_padding_and_matches_direct_computation():
  config = standin_config(eval_every=1)
  model = StandIn()
  mesh = make_mesh(config.mesh_shape)
  rules = state_lib.rules_from_config(config)
  bsh = state_lib.batch_sharding(mesh, rules)
  full = make_example_batch(config, 8, seed=5)
  tx, _ = state_lib.make_optimizer(config.optim, config.total_steps)
  example = {k: jax.ShapeDtypeStruct(v.shape, v.dtype) for k, v in full.items()}
  state, shardings = state_lib.init_train_state(model, tx, example, mesh, rules, config.seed)
  short = make_example_batch(config, 3, seed=5, start=8)
  validator = _FixedBatches(model, config, mesh, rules, bsh, shardings["params"])
  validator.batches = (full, short)
  got = validator(state["params"])
  assert got == validator(state["params"])  # deterministic

  rows = {k: np.concatenate([full[k], short[k]]) for k in full}
  with nn.logical_axis_rules(rules):
    out = model.apply({"params": state["params"]}, rows)
    alone = model.apply({"params": state["params"]}, rows, drop_condition=jnp.ones(11, bool))
  want_ar, ar = losses.ar_loss(out.logits, out.targets, out.target_mask)
  assert got["val/examples"] == 11
  np.testing.assert_allclose(got["val/loss_ar"], want_ar, rtol=1e-5)
  np.testing.assert_allclose([got[f"val/acc_cb{k}"] for k in range(4)], ar["acc_k"], rtol=1e-5)
  np.testing.assert_allclose(got["val/loss_beat"],
                             losses.beat_loss(out.beat_logits, rows["music_beat"]), rtol=1e-5)
  want = retrieval_metrics(np.asarray(alone.music_embed), np.asarray(out.video_embed))
  for key, value in want.items():
    assert got[f"val/{key}"] == pytest.approx(value), key
