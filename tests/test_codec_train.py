"""Codec training (the codec_tiny config): it learns, resumes exactly from a checkpoint, and
its HF export loads in `transformers.EncodecModel` and `from_hf` with the same codes.

The codec loop shares the VMAS loop's harness (`vmas_jax.train.harness`), whose survival of
SIGKILL and SIGTERM `test_train_resume` proves; here a run is resumed from a copy of another
run's checkpoint, i.e. as if that run had been killed right after saving it."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

from train_support import ROOT, subprocess_env
from vmas_jax import cli
from vmas_jax.train import load_checkpoint

# One configuration for every run below, so that they share one compilation (through the
# persistent compilation cache of train_support.subprocess_env).
STEPS, EVERY = 60, 20


def _start(workdir, *extra):
  return subprocess.Popen(
      [sys.executable, "tests/codec_train_worker.py", str(workdir), f"total_steps={STEPS}",
       f"checkpoint_every={EVERY}", "keep_checkpoints=5", "log_every=1", *extra],
      cwd=ROOT, env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(proc, timeout=600):
  out, err = proc.communicate(timeout=timeout)
  assert proc.returncode == 0, f"exit {proc.returncode}\n{out[-2000:]}\n{err[-4000:]}"
  return json.loads([l for l in out.splitlines() if l.startswith("RESULT ")][-1][7:])


def _check_learning(workdir: Path):
  """Mean of the first and of the last 10 steps (fresh synthetic segments every step): the
  mel loss and the log-mel distance fall by 40 %; the codebooks are used."""
  rows = [json.loads(l) for l in (workdir / "metrics.jsonl").read_text().splitlines()]
  assert [r["step"] for r in rows] == list(range(1, STEPS + 1))
  mean = lambda rs, k: float(np.mean([r[k] for r in rs]))
  first, last = rows[:10], rows[-10:]
  print({k: (round(mean(first, k), 3), round(mean(last, k), 3))
         for k in ("loss", "l1", "mel", "log_mel_l1", *(f"vq{i}_perplexity" for i in range(4)))})
  assert mean(last, "mel") < 0.6 * mean(first, "mel")
  assert mean(last, "log_mel_l1") < 0.6 * mean(first, "log_mel_l1")
  for k in range(4):  # several entries in use in each batch of 80 frames, most entries alive
    assert mean(last, f"vq{k}_perplexity") > 4
    assert rows[-1][f"vq{k}_alive"] > 0.5


def _check_hf_export(workdir: Path, out: Path, want: dict):
  """`vmas codec export` -> transformers.EncodecModel and from_hf give the same codes."""
  torch = pytest.importorskip("torch")
  transformers = pytest.importorskip("transformers")
  assert cli.main(["codec", "export", "--workdir", str(workdir), "--out", str(out)]) == 0
  from vmas_jax.convert import from_hf
  from vmas_jax.models.codec import jitted_codec
  from vmas_jax.models.codec_init import probe_signal
  module, variables = from_hf(out)
  np.testing.assert_array_equal(variables["params"]["codebooks"], want["vq"]["embed"])
  wav = probe_signal(32000, seconds=1.0)
  encode, decode = jitted_codec(module.config)
  codes = np.asarray(encode(variables, wav))
  audio = np.asarray(decode(variables, codes))
  ref = transformers.EncodecModel.from_pretrained(out).eval()
  threads = torch.get_num_threads()
  torch.set_num_threads(1)
  try:
    with torch.no_grad():
      ref_codes = ref.encode(torch.from_numpy(wav)[:, None]).audio_codes[0].numpy()
      ref_audio = ref.decode(torch.from_numpy(codes)[None].long(), [None]).audio_values[:, 0]
  finally:
    torch.set_num_threads(threads)
  assert ref_codes.shape == codes.shape == (1, 4, 50)
  assert len(np.unique(codes[0, 0])) > 3  # trained codebooks: codes vary with the input
  assert (ref_codes == codes).mean() > 0.99  # fp32 near-ties may resolve differently
  np.testing.assert_allclose(ref_audio.numpy(), audio, atol=1e-4, rtol=1e-4)


@pytest.mark.long
def test_codec_training_learns_resumes_exactly_and_exports(tmp_path):
  straight, resumed = tmp_path / "straight", tmp_path / "resumed"
  assert _finish(_start(straight))["step"] == STEPS
  _check_learning(straight)

  # the first checkpoint alone (state and data-iterator position), resumed to the second:
  # the straight run's state there, bit for bit
  (resumed / "checkpoints").mkdir(parents=True)
  shutil.copytree(straight / "checkpoints" / str(EVERY), resumed / "checkpoints" / str(EVERY))
  assert load_checkpoint(resumed)["step"] == EVERY
  assert _finish(_start(resumed, f"stop_step={2 * EVERY}"))["step"] == 2 * EVERY
  want, got = load_checkpoint(straight, 2 * EVERY), load_checkpoint(resumed, 2 * EVERY)
  for part in ("params", "vq", "opt_state"):
    jax.tree.map(np.testing.assert_array_equal, got[part], want[part])

  _check_hf_export(straight, tmp_path / "hf", load_checkpoint(straight))


def test_weight_norm_split_folds_back_to_the_same_kernels():
  from vmas_jax.models.codec import EncodecConfig
  from vmas_jax.models.codec_init import init_codec
  from vmas_jax.train.codec_step import fold_weight_norm, split_weight_norm
  _, variables = init_codec(EncodecConfig.tiny(), seed=0)
  params = {k: v for k, v in variables["params"].items() if k != "codebooks"}
  split = split_weight_norm(params)
  conv = split["decoder"]["up0_conv"]
  assert set(conv) == {"kernel_v", "kernel_g", "bias"} and conv["kernel_g"].ndim == 1
  assert "kernel_ih_0" in split["encoder"]["lstm"]  # LSTM weights stay plain
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7),
               fold_weight_norm(split), params)
  # the length is a free parameter: doubling g doubles the folded kernel
  conv["kernel_g"] = 2 * conv["kernel_g"]
  np.testing.assert_allclose(fold_weight_norm(split)["decoder"]["up0_conv"]["kernel"],
                             2 * params["decoder"]["up0_conv"]["kernel"], rtol=1e-5)
