"""Sharded training on a fake 8-device CPU mesh equals the 1-device result (tiny VMAS)."""

import json

import pytest

from train_support import run_python


@pytest.mark.long
def test_loss_and_grads_match_one_device_on_three_meshes():
  proc = run_python(["tests/mesh_equivalence_worker.py", "vmas"], devices=8)
  line = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")][-1]
  report = json.loads(line[len("RESULT "):])
  assert set(report) == {"(8, 1, 1)", "(2, 2, 2)", "(1, 8, 1)"}
  for shape, r in report.items():
    assert r["max_grad_diff"] <= 1e-5 * max(1.0, r["max_grad"]), (shape, r)
    assert r["loss_diff"] < 1e-5, (shape, r)
