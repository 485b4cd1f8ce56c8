import json

import numpy as np

from vmas_jax import cli
from vmas_jax.data.audio_io import load_audio, write_wav
from vmas_jax.data.synthetic import make_synthetic_videos


def test_eval_scores_aligned_music_above_misaligned(tmp_path):
  vids = make_synthetic_videos(tmp_path / "v", 2, seconds=6.0, seed=7, size=48, fps=8)
  out = tmp_path / "gen"
  out.mkdir()
  ok = []
  for i, v in enumerate(vids):
    own = out / f"own{i}.wav"
    write_wav(own, load_audio(v["path"], 32000), 32000)  # the music made for this video
    ok.append({"path": v["path"], "wav": str(own)})
  # music whose beats are shifted by half a beat period: the same tempo, off the video's beats
  shift = 30.0 / vids[0]["bpm"]
  wav = load_audio(vids[0]["path"], 32000)
  off = out / "shifted.wav"
  write_wav(off, np.roll(wav, int(shift * 32000)), 32000)
  ok.append({"path": vids[0]["path"], "wav": str(off)})
  ok.append({"path": str(tmp_path / "missing.mp4"), "wav": str(off)})
  (out / "generate_report.json").write_text(json.dumps({"ok": ok, "skipped": []}))

  assert cli.main(["eval", "--generated", str(out)]) == 0
  report = json.loads((out / "eval_report.json").read_text())
  items = report["items"]
  assert len(items) == 3 and len(report["skipped"]) == 1
  assert "missing.mp4" in report["skipped"][0]["reason"]
  aligned, shifted = items[0], items[2]
  assert aligned["bhs"] >= 0.7 and aligned["bas"] > shifted["bas"] + 0.2
  assert aligned["bhs"] > shifted["bhs"]
