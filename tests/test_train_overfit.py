"""`vmas train` on the tiny config (real VMAS model) overfits one fixed batch.

Runs the CLI in a subprocess: AR loss falls by >= 80 % within the run (<= 200 steps) and the
contrastive retrieval accuracy on the batch reaches 100 %; a checkpoint is written and
`load_checkpoint` reads it back.
"""

import json

import pytest

from train_support import run_python
from vmas_jax.train import load_checkpoint

STEPS = 120


@pytest.mark.long
def test_tiny_overfits_one_batch_via_cli(tmp_path):
  workdir = tmp_path / "run"
  run_python(["-m", "vmas_jax.cli", "train", "--config", "tiny",
              "--workdir", str(workdir),
              "--config.data.source=memory", "--config.data.memory_examples=4",
              "--config.data.global_batch_size=4", "--config.data.clip_seconds=0.5",
              f"--config.total_steps={STEPS}", f"--config.checkpoint_every={STEPS}",
              "--config.log_every=20", "--config.optim.learning_rate=0.003",
              "--config.optim.warmup_steps=10", "--config.decoder.cond_dropout=0.0",
              "--config.tensorboard=False"])
  rows = [json.loads(l) for l in (workdir / "metrics.jsonl").read_text().splitlines()]
  first, last = rows[0], rows[-1]
  assert first["step"] == 1 and last["step"] == STEPS
  assert last["loss_ar"] <= 0.2 * first["loss_ar"], (first["loss_ar"], last["loss_ar"])
  assert last["contrastive_acc"] == 1.0
  assert all(last[f"acc_cb{k}"] > 0.9 for k in range(4))
  val = [r for r in rows if "val/loss_ar" in r]  # tiny validates every 25 steps
  assert [r["step"] for r in val] == [25, 50, 75, 100]
  assert all(0 <= r["val/v2m_r1"] <= 1 and r["val/loss_ar"] > 0 and r["val/examples"] == 8
             for r in val)
  state = load_checkpoint(workdir)
  assert int(state["step"]) == STEPS and "decoder" in state["params"]
