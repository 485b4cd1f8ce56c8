import json
from pathlib import Path

import numpy as np
import pytest

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


def test_eval_fad_kl_beats_with_an_undecodable_file(tmp_path):
  from eval_audio import noise_bursts, tones
  ref, gen, cache = tmp_path / "ref", tmp_path / "gen", tmp_path / "cache"
  ref.mkdir(), gen.mkdir()
  vids = make_synthetic_videos(tmp_path / "videos", 1, seconds=3.2, seed=3, size=48, fps=8)
  stem = Path(vids[0]["path"]).stem
  for i, (name, make) in enumerate([("a", tones), ("b", noise_bursts), (stem, tones)]):
    write_wav(ref / f"{name}.wav", make(3.2, seed=i), 16000)
    write_wav(gen / f"{name}.wav", make(3.2, seed=i + 10), 16000)
  write_wav(gen / f"{stem}.wav", load_audio(vids[0]["path"], 32000), 32000)  # its own music
  (gen / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" * 10)

  args = ["eval", "--generated", str(gen), "--reference", str(ref), "--videos",
          str(tmp_path / "videos"), "--cache-dir", str(cache)]
  assert cli.main(args) == 0
  report = json.loads((gen / "eval_report.json").read_text())
  assert [Path(s["path"]).name for s in report["skipped"]] == ["broken.wav"]
  assert "broken.wav" in report["skipped"][0]["reason"]
  assert report["fad"] > 0 and report["kl_paired"] and report["kl"] > 0
  items = {Path(it["path"]).stem: it for it in report["items"]}
  assert set(items) == {"a", "b", stem}
  assert all(it["kl"] >= 0 and it["windows"] == 1 for it in items.values())
  assert items[stem]["video"] == vids[0]["path"] and items[stem]["bhs"] > 0.5
  assert report["bhs"] == items[stem]["bhs"]
  assert "| FAD (musicnn-MTT_musicnn-penultimate) |" in (gen / "eval_report.md").read_text()
  cached = sorted(cache.rglob("*.npz"))
  assert len(cached) == 6  # every decodable file, once
  mtimes = [p.stat().st_mtime_ns for p in cached]
  assert cli.main(args) == 0  # the second run reads the cache
  assert [p.stat().st_mtime_ns for p in sorted(cache.rglob("*.npz"))] == mtimes
  assert json.loads((gen / "eval_report.json").read_text())["fad"] == report["fad"]


@pytest.mark.parametrize("text", [False, True], ids=["video", "text_video"])
def test_eval_video_music_similarity_with_a_run(tmp_path, text):
  """A text + video run is scored too (with the empty caption)."""
  from tiny_run import make_run_dir
  run = make_run_dir(tmp_path / "run", text=text)  # laid out as training leaves it

  vids = make_synthetic_videos(tmp_path / "videos", 2, seconds=2.0, seed=4, size=48, fps=8)
  gen = tmp_path / "gen"
  gen.mkdir()
  for v in vids:
    write_wav(gen / f"{Path(v['path']).stem}.wav", load_audio(v["path"], 32000), 32000)
  args = ["eval", "--generated", str(gen), "--videos", str(tmp_path / "videos"),
          "--workdir", str(run)]
  assert cli.main(args) == 0
  report = json.loads((gen / "eval_report.json").read_text())
  sims = [it["similarity"] for it in report["items"]]
  assert len(sims) == 2 and all(-1 <= s <= 1 for s in sims) and len(set(sims)) == 2
  assert report["similarity"] == np.mean(sims)
  assert set(report["retrieval"]) >= {"v2m_r1", "m2v_r1", "v2m_median_rank"}
