"""Generation end to end: a tiny run's work directory, then video in -> music video out."""

import json

import av
import numpy as np
import pytest

from tiny_run import make_run_dir
from vmas_jax import cli
from vmas_jax.data.audio_io import load_audio
from vmas_jax.data.synthetic import make_synthetic_videos
from vmas_jax.generate import MusicVideoPipeline, load_run_config


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
  return make_run_dir(tmp_path_factory.mktemp("run"))


@pytest.fixture(scope="module")
def video(tmp_path_factory):
  d = tmp_path_factory.mktemp("videos")
  return make_synthetic_videos(d, 1, seconds=3.0, seed=3, size=48, fps=8)[0]["path"]


def test_long_video_in_windows_continuing_the_previous_one(run_dir, video):
  config = load_run_config(run_dir)
  assert config.data.clip_seconds == 2.0
  pipe = MusicVideoPipeline.from_workdir(run_dir)
  r = pipe.generate(video, seed=1, best_of=2)
  # 3 s at 50 Hz in 2 s windows overlapping by 1 s: 100 frames, then 50 new
  assert r.codes.shape == (4, 150)
  assert [w.start for w in r.windows] == [0.0, 1.0]
  assert [w.frames for w in r.windows] == [100, 50]
  assert r.video_beat.shape == (150,)
  assert r.wav.shape == (3 * 32000,) and np.isfinite(r.wav).all()
  assert 0 <= r.codes.min() and r.codes.max() < 2048
  assert all(len(w.score["candidates"]) == 2 for w in r.windows)  # best of 2, reranked
  again = pipe.generate(video, seed=1, best_of=2)
  np.testing.assert_array_equal(again.codes, r.codes)  # deterministic for a seed


def test_cli_writes_music_videos_and_skips_bad_files(run_dir, video, tmp_path):
  bad = tmp_path / "broken.mp4"
  bad.write_text("this is not a video")
  out = tmp_path / "out"
  rc = cli.main(["generate", str(video), str(bad), "--workdir", str(run_dir), "--out", str(out),
                 "--best-of", "2"])
  assert rc == 0
  report = json.loads((out / "generate_report.json").read_text())
  assert [o["path"] for o in report["ok"]] == [str(video)]
  assert len(report["skipped"]) == 1 and "broken.mp4" in report["skipped"][0]["reason"]
  with av.open(report["ok"][0]["video"]) as c:
    assert len(c.streams.video) == 1 and len(c.streams.audio) == 1
    assert c.streams.audio[0].sample_rate == 32000
  assert (out / "synth_0000.wav").stat().st_size > 3 * 32000 * 2  # 3 s of 16-bit audio


def test_streamed_generation_decodes_in_bounded_pieces(run_dir, tmp_path):
  """pipe(video, out) streams window by window: every codec decode covers at most one window
  plus the context and lookahead of the chunked decoder, however long the video, and the WAV
  it writes is the music `generate` returns."""
  from vmas_jax.data.audio_io import load_audio
  video = make_synthetic_videos(tmp_path / "v", 1, seconds=6.0, seed=4, size=32, fps=4)[0]["path"]
  pipe = MusicVideoPipeline.from_workdir(run_dir)
  decode, pieces = pipe._decode_audio, []
  pipe._decode_audio = lambda v, codes: pieces.append(codes.shape[-1]) or decode(v, codes)
  r = pipe(video, tmp_path / "out", seed=2)
  assert [w.start for w in r.windows] == [0.0, 1.0, 2.0, 3.0, 4.0]
  assert r.codes.shape == (4, 300)
  assert len(pieces) == 6 and max(pieces) <= 50 + 100 + 50 < 300  # context + window + lookahead
  whole = pipe.generate(video, seed=2)
  np.testing.assert_array_equal(whole.codes, r.codes)
  streamed = load_audio(r.wav_path, 32000)
  assert streamed.shape == whole.wav.shape == (6 * 32000,)
  np.testing.assert_allclose(streamed, np.clip(whole.wav, -1, 1), atol=1.5 / 32768)
  with av.open(str(r.video_path)) as c:
    assert abs(float(c.streams.audio[0].duration * c.streams.audio[0].time_base) - 6.0) < 0.05


def test_cli_prompt_steers_a_text_run_and_its_exported_model(video, tmp_path, capsys):
  """A run trained with text takes --prompt (the prompt reaches the sampler: another prompt,
  other music), and so does the model exported from it; a model without text refuses it."""
  from vmas_jax.exported_model import export_model
  run = make_run_dir(tmp_path / "text_run", text=True)
  pipe = MusicVideoPipeline.from_workdir(run)
  model = export_model(pipe.config, pipe.params, tmp_path / "text_model", dtype="float32")

  def generate(*args):
    out = tmp_path / f"out{len(list(tmp_path.glob('out*')))}"
    assert cli.main(["generate", str(video), "--out", str(out), "--seconds", "1.5",
                     *args]) == 0
    return load_audio(json.loads((out / "generate_report.json").read_text())["ok"][0]["wav"],
                      32000)

  red = generate("--workdir", str(run), "--prompt", "red")
  assert not np.allclose(red, generate("--workdir", str(run), "--prompt", "calm piano"))
  np.testing.assert_array_equal(red, generate("--model", str(model), "--prompt", "red"))
  capsys.readouterr()
  assert cli.main(["generate", str(video), "--out", str(tmp_path / "no"), "--prompt",
                   "red"]) == 2  # the bundled demo model has no text
  assert "takes no --prompt" in capsys.readouterr().err
