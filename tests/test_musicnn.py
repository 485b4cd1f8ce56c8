"""musicnn in Flax: parity with the musicnn package's TensorFlow model, and tags that make sense.

The TensorFlow reference runs in its own interpreter (VMAS_TF_PYTHON: a virtualenv with
tensorflow-cpu, tf_keras and musicnn that `.ci/run` makes), so TensorFlow never loads into the
test process (it changes how TFDS behaves).
"""

import os
import subprocess

import jax
import numpy as np
import pytest
import soundfile as sf

from eval_audio import noise_bursts, tones
from train_support import ROOT
from vmas_jax.convert import tf_checkpoint
from vmas_jax.convert.musicnn import load_musicnn
from vmas_jax.data.audio_io import load_audio
from vmas_jax.eval import musicnn as M
from vmas_jax.eval.embeddings import get_embedder

MODELS = ("MTT_musicnn", "MSD_musicnn")


def _run(name, wav):
  module, variables = load_musicnn(name)
  return jax.tree.map(np.asarray, jax.jit(module.apply)(variables, M.patches(M.log_mel(wav))))


@pytest.mark.long
def test_parity_with_the_packages_tensorflow_model(tmp_path):
  python = os.environ.get("VMAS_TF_PYTHON")
  if not python:
    pytest.skip("VMAS_TF_PYTHON (an interpreter with tensorflow + musicnn) is not set")
  wavs = [tones(7.0, seed=1), noise_bursts(6.5, seed=2)]
  paths = []
  for i, wav in enumerate(wavs):
    assert M.log_mel(wav).max() < np.log10(np.finfo(np.float16).max) - 0.01  # no saturation
    paths.append(tmp_path / f"clip{i}.wav")
    sf.write(paths[-1], wav, M.SAMPLE_RATE, subtype="FLOAT")
  out = tmp_path / "ref.npz"
  # TensorFlow starts slowly: let it work while ours runs.
  proc = subprocess.Popen([python, str(ROOT / "tests" / "musicnn_tf_reference.py"), str(out),
                           ",".join(MODELS), *map(str, paths)], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)
  got = {(name, i): _run(name, load_audio(path, M.SAMPLE_RATE))  # decoded as `vmas eval` does
         for name in MODELS for i, path in enumerate(paths)}
  _, err = proc.communicate(timeout=300)
  assert proc.returncode == 0, err[-4000:]
  ref = np.load(out)
  for (name, i), ours in got.items():
    for key in ("tags", "penultimate", "mean_pool", "max_pool"):
      want = ref[f"{name}/{i}/{key}"]
      assert ours[key].shape == want.shape, (name, key)
      np.testing.assert_allclose(ours[key], want, rtol=1e-4, atol=1e-4 * np.abs(want).max(),
                                 err_msg=f"{name} clip {i} {key}")


def test_top_tags_of_tones_and_drums_differ_as_a_listener_expects():
  embedder = get_embedder("musicnn")
  files = embedder([tones(6.2), noise_bursts(6.2)])
  top = {kind: [M.MTT_LABELS[i] for i in np.argsort(-f.tags.mean(0))[:5]]
         for kind, f in zip(("tones", "drums"), files)}
  assert "piano" in top["tones"][:3] and {"slow", "soft", "quiet"} <= set(top["tones"])
  assert {"drums", "beat", "techno"} <= set(top["drums"])
  assert not {"drums", "beat", "techno"} & set(top["tones"])
  assert "piano" not in top["drums"]


def test_short_clips_are_repeated_to_one_patch():
  mel = M.log_mel(tones(1.0))
  p = M.patches(mel)
  assert p.shape == (1, M.PATCH_FRAMES, M.N_MELS)
  np.testing.assert_array_equal(p[0, :mel.shape[0]], mel)
  np.testing.assert_array_equal(p[0, mel.shape[0]:2 * mel.shape[0]], mel[:M.PATCH_FRAMES - mel.shape[0]])


def test_checkpoint_reader_errors_name_the_file(tmp_path):
  (tmp_path / "bad").mkdir()
  (tmp_path / "bad" / ".index").write_bytes(b"not a checkpoint" * 8)
  with pytest.raises(tf_checkpoint.CheckpointFormatError, match="bad magic"):
    load_musicnn(tmp_path / "bad")
  with pytest.raises(FileNotFoundError, match="no TensorFlow checkpoint"):
    load_musicnn(tmp_path)
