"""Exact resume: a run SIGKILLed after its first checkpoint, or SIGTERMed (which saves and
exits cleanly), then restarted, ends with the same parameters and data order as a straight run.
"""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest

from train_support import ROOT, subprocess_env
from vmas_jax.train import load_checkpoint

STEPS, EVERY = 40, 8
# The Grain pipeline over tiny's synthetic dataset (4 clips a batch, 16 clips: an epoch is
# 4 steps, so 40 steps also cross epoch boundaries and reshuffles).
COMMON = ["pipeline", f"total_steps={STEPS}", f"checkpoint_every={EVERY}", "trace_batches=True",
          "keep_checkpoints=2", "eval_every=20"]  # validation on (held-out split)


def _start(workdir, *extra):
  return subprocess.Popen([sys.executable, "tests/train_worker.py", str(workdir), *COMMON, *extra],
                          cwd=ROOT, env=subprocess_env(), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)


def _finish(proc, timeout=240):
  out, err = proc.communicate(timeout=timeout)
  assert proc.returncode == 0, f"exit {proc.returncode}\n{out[-2000:]}\n{err[-4000:]}"
  return json.loads([l for l in out.splitlines() if l.startswith("RESULT ")][-1][7:])


def _wait_for_checkpoint(workdir: Path, step: int, proc, timeout=240):
  marker = workdir / "checkpoints" / str(step)
  t0 = time.time()
  while not (marker.is_dir() and any(marker.iterdir()) and (marker / "state").is_dir()):
    assert proc.poll() is None, proc.communicate()
    assert time.time() - t0 < timeout, "no checkpoint appeared"
    time.sleep(0.05)
  time.sleep(0.2)  # let the async save commit (the rename is what makes it visible)


def _trace(workdir: Path) -> dict[int, str]:
  order = {}
  for line in (workdir / "batch_trace_p0.txt").read_text().splitlines():
    step, digest = line.split()
    order[int(step)] = digest  # a restarted run rewrites the steps after its checkpoint
  return order


def _validation(workdir: Path) -> dict[int, dict]:
  rows = [json.loads(l) for l in (workdir / "metrics.jsonl").read_text().splitlines()]
  return {r["step"]: r for r in rows if "val/loss_ar" in r}  # a rerun step: its last row


def _assert_same_params(a, b):
  jax.tree.map(np.testing.assert_array_equal, a["params"], b["params"])
  jax.tree.map(np.testing.assert_array_equal, a["opt_state"], b["opt_state"])


@pytest.mark.long
def test_resume_after_sigkill_and_after_sigterm(tmp_path):
  straight, killed, termed = tmp_path / "straight", tmp_path / "killed", tmp_path / "termed"
  ref = _finish(_start(straight))  # also fills the compilation cache for the runs below
  assert ref["step"] == STEPS and not ref["stopped_early"]
  p_kill = _start(killed, "step_sleep_s=0.4")
  p_term = _start(termed, "step_sleep_s=0.4")

  _wait_for_checkpoint(killed, EVERY, p_kill)
  p_kill.send_signal(signal.SIGKILL)
  p_kill.wait()
  _wait_for_checkpoint(termed, EVERY, p_term)
  p_term.send_signal(signal.SIGTERM)
  term_result = _finish(p_term)  # exit status 0
  assert term_result["stopped_early"] and EVERY <= term_result["step"] < STEPS, term_result
  saved = load_checkpoint(termed)
  assert int(saved["step"]) == term_result["step"]  # the SIGTERM save, not just the periodic one
  assert max(_trace(killed)) < STEPS - 1  # it really died mid-run

  restarts = [_start(killed), _start(termed)]
  for proc in restarts:
    assert _finish(proc)["step"] == STEPS

  want = load_checkpoint(straight)
  assert int(want["step"]) == STEPS
  for workdir in (killed, termed):
    got = load_checkpoint(workdir)
    assert int(got["step"]) == STEPS
    _assert_same_params(got, want)
    assert _trace(workdir) == _trace(straight)
    assert _validation(workdir) == _validation(straight)
  assert len(set(_trace(straight).values())) == STEPS  # every step saw a different batch
  assert sorted(_validation(straight)) == [20, 40]
