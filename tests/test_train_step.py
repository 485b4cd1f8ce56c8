"""The train step: gradient accumulation equals the full batch; the NaN/Inf guard; the
optimiser's relative steps (`optim.param_scale`)."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from standin_model import StandIn
from train_support import standin_config
from vmas_jax.sharding import make_mesh
from vmas_jax.train import memory_data, state as st
from vmas_jax.train.harness import check_finite
from vmas_jax.train.step import make_grad_fn, make_train_step


def _setup(**overrides):
  config = standin_config(**overrides)
  model = StandIn(vocab=16, d=8, contrastive_dim=4)
  mesh = make_mesh((1, 1, 1), devices=jax.devices()[:1])
  rules = st.rules_from_config(config)
  batch = memory_data.make_example_batch(config, 8, seed=2)
  tx, schedule = st.make_optimizer(config.optim, config.total_steps)
  state, shardings = st.init_train_state(model, tx, batch, mesh, rules, 0)
  return config, model, mesh, rules, batch, tx, schedule, state, shardings


def test_grad_accumulation_matches_full_batch():
  # Contrastive negatives are per microbatch, so compare with that term off; AR and beat
  # losses are means over equal-sized microbatches, so accumulation is exact.
  config, model, _, _, batch, *_, state, _ = _setup(**{"loss.contrastive_weight": 0.0,
                                                     "decoder.cond_dropout": 0.0})
  model = model.clone()
  rng = jax.random.PRNGKey(0)
  full, m_full = jax.jit(make_grad_fn(model, config.loss, 1))(state["params"], batch, rng)
  acc, m_acc = jax.jit(make_grad_fn(model, config.loss, 4))(state["params"], batch, rng)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6), acc, full)
  np.testing.assert_allclose(m_acc["loss_ar"], m_full["loss_ar"], rtol=1e-6)


def test_nan_guard_keeps_params():
  config, model, mesh, rules, batch, tx, schedule, state, shardings = _setup()
  step = make_train_step(model, tx, schedule, config, shardings,
                         st.batch_sharding(mesh, rules), mesh, rules)
  before = jax.device_get(state["params"])
  bad = dict(batch, features=np.full_like(batch["features"], np.nan))
  state, metrics = step(state, st.to_global_batch(bad, st.batch_sharding(mesh, rules)))
  assert not bool(metrics["finite"]) and int(state["step"]) == 1
  jax.tree.map(np.testing.assert_array_equal, jax.device_get(state["params"]), before)



def test_nan_policy():
  assert check_finite(True, 7, "stop") == 0
  assert check_finite(False, 7, "skip") == 1
  with pytest.raises(FloatingPointError, match="at step 7"):
    check_finite(False, 7, "stop")
  with pytest.raises(ValueError, match="nan_policy"):
    check_finite(False, 7, "ignore")


def test_param_scale_moves_each_tensor_by_a_fraction_of_its_own_size():
  optim = ml_collections.ConfigDict(dict(learning_rate=1e-2, b1=0.5, b2=0.9, weight_decay=0.0,
                                         grad_clip=0.0, warmup_steps=0, min_lr_ratio=1.0,
                                         param_scale=1e-3))
  params = {"big": jnp.full((4, 4), 1e4), "small": jnp.full((4,), -1e-2),
            "tiny": jnp.full((2,), 1e-6), "zero": jnp.zeros(3)}
  grads = jax.tree.map(jnp.ones_like, params)
  tx, _ = st.make_optimizer(optim, 10)
  updates, _ = tx.update(grads, tx.init(params), params)
  # Adam's first step is -lr * sign(g); scaled by each tensor's RMS (at least param_scale)
  np.testing.assert_allclose(updates["big"], -1e-2 * 1e4, rtol=1e-4)
  np.testing.assert_allclose(updates["small"], -1e-2 * 1e-2, rtol=1e-4)
  np.testing.assert_allclose(updates["tiny"], -1e-2 * 1e-3, rtol=1e-4)  # the floor
  np.testing.assert_allclose(updates["zero"], -1e-2 * 1e-3, rtol=1e-4)
  optim.param_scale = 0.0  # plain AdamW: the same absolute step everywhere
  tx, _ = st.make_optimizer(optim, 10)
  updates, _ = tx.update(grads, tx.init(params), params)
  for u in jax.tree.leaves(updates):
    np.testing.assert_allclose(u, -1e-2, rtol=1e-4)
