"""Two processes on localhost (jax.distributed over CPU) train like one process."""

import json
import socket
import subprocess
import sys

import jax
import numpy as np
import pytest

from train_support import ROOT, subprocess_env
from vmas_jax.train import load_checkpoint

ARGS = ["total_steps=3", "checkpoint_every=3", "trace_batches=True"]


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


def _popen(workdir, env):
  return subprocess.Popen([sys.executable, "tests/train_worker.py", str(workdir), *ARGS],
                          cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True)


def _result(proc):
  out, err = proc.communicate(timeout=240)
  assert proc.returncode == 0, f"exit {proc.returncode}\n{out[-2000:]}\n{err[-4000:]}"
  return json.loads([l for l in out.splitlines() if l.startswith("RESULT ")][-1][7:])


@pytest.mark.long
def test_two_processes_match_one(tmp_path):
  port = _free_port()
  multi = tmp_path / "multi"
  procs = [_popen(multi, subprocess_env(1, JAX_COORDINATOR_ADDRESS=f"localhost:{port}",
                                        JAX_NUM_PROCESSES="2", JAX_PROCESS_ID=str(i)))
           for i in range(2)]
  single = _popen(tmp_path / "single", subprocess_env(2))  # same mesh (2,1,1), one process
  assert [_result(p)["step"] for p in procs] == [3, 3]
  assert _result(single)["step"] == 3

  want, got = load_checkpoint(tmp_path / "single"), load_checkpoint(multi)
  assert int(got["step"]) == 3
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7),
               got["params"], want["params"])
  # Each process read its own half of every global batch.
  halves = [(multi / f"batch_trace_p{i}.txt").read_text().split() for i in range(2)]
  assert halves[0] != halves[1]
