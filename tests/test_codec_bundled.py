"""The bundled codec (vmas_jax/assets/codec) keeps notes: `vmas codec roundtrip` of held-out
synthetic melodies keeps their pitches (and, not yet, their onsets)."""

import json

import numpy as np
import pytest

from train_support import run_python
from vmas_jax.data.audio_io import audio_info, load_audio, write_wav
from vmas_jax.eval import codec_quality as q
from vmas_jax.models.codec import BUNDLED_CODEC


def test_bundled_codec_is_a_small_hf_encodec():
  config = json.loads((BUNDLED_CODEC / "config.json").read_text())
  assert config["model_type"] == "encodec" and config["sampling_rate"] == 32000
  assert np.prod(config["upsampling_ratios"]) == 640 and config["codebook_size"] == 2048
  size = sum(f.stat().st_size for f in BUNDLED_CODEC.iterdir())
  assert size <= 8e6, size


@pytest.fixture(scope="module")
def held_out_round_trip(tmp_path_factory):
  """Notes of 110-880 Hz in 7 timbres, 0.3-0.7 s apart, from seeds the training never used
  (the training generator draws other pitches, timbres and gaps from np.random seeds [0, i]),
  through `vmas codec roundtrip`: [(original, reconstruction, notes)] for two melodies."""
  tmp_path = tmp_path_factory.mktemp("bundled")
  wavs, notes = [], []
  for seed in (77, 78):
    wav, n = q.held_out_notes(seed, 8.0, 32000)
    wavs.append(wav)
    notes.append(n)
  # two melodies in one file, 8 s apart: one codec call
  write_wav(tmp_path / "notes.wav", np.concatenate(wavs), 32000, subtype="FLOAT")
  proc = run_python(["-m", "vmas_jax.cli", "codec", "roundtrip", str(tmp_path / "notes.wav"),
                     str(tmp_path / "out.wav")])
  assert "codes (4, 800)" in proc.stdout, proc.stdout
  assert audio_info(tmp_path / "out.wav").sample_rate == 32000
  out = load_audio(tmp_path / "out.wav", 32000)
  assert len(out) == 16 * 32000
  return [(wav, out[i * len(wav):(i + 1) * len(wav)], n)
          for i, (wav, n) in enumerate(zip(wavs, notes))]


def test_roundtrip_keeps_the_pitch_of_held_out_notes(held_out_round_trip):
  pitch = []
  for wav, rec, notes in held_out_round_trip:
    assert q.pitch_accuracy(wav, 32000, notes) == 1.0  # the measurement itself is sound
    pitch.append(q.pitch_accuracy(rec, 32000, notes))
  print(f"notes within 50 cents {pitch}")
  assert np.mean(pitch) >= 0.95


@pytest.mark.xfail(strict=True, raises=AssertionError,
                   reason="the bundled codec (gain-shape: the waveform below 4 kHz, band "
                   "loudness above, 44 bits a frame) jitters below the split, which sets off "
                   "extra onsets: onset F1 ~0.64-0.83 on held-out melodies (issue 10); strict, "
                   "so a codec that passes shows up")
def test_roundtrip_keeps_the_onsets_of_held_out_notes(held_out_round_trip):
  f1 = [q.onset_f1(wav, rec, 32000) for wav, rec, _ in held_out_round_trip]
  print(f"onset F1 {f1}")
  assert min(f1) >= 0.95
