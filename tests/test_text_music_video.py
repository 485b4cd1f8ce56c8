"""`vmas generate --prompt ... --from MUSICGEN`: text-to-music fitted to a video, offline, on a
random tiny MusicGen directory and a synthetic video."""

import json

import av
import numpy as np
import pytest

from text_fixtures import save_tiny_musicgen
from vmas_jax import cli
from vmas_jax.data.synthetic import make_synthetic_videos
from vmas_jax.text_music_video import TextMusicVideoPipeline, fade_out

pytest.importorskip("torch")
pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture(scope="module")
def musicgen_dir(tmp_path_factory):
  import torch
  torch.set_num_threads(1)
  path = tmp_path_factory.mktemp("musicgen")
  save_tiny_musicgen(path)
  return path


@pytest.fixture(scope="module")
def video(tmp_path_factory):
  d = tmp_path_factory.mktemp("videos")
  return make_synthetic_videos(d, 1, seconds=2.5, seed=3, size=48, fps=8)[0]["path"]


def test_windows_continue_best_of_n_and_fit_the_video(musicgen_dir, video):
  pipe = TextMusicVideoPipeline.from_pretrained(musicgen_dir, dict(window_seconds=1.0))
  r = pipe.generate(video, "calm piano", seed=1, best_of=2)
  # 2.5 s at 50 Hz in 1 s windows continuing from 0.5 s: 50 frames, then 25 new per window
  assert r.codes.shape == (4, 125) and 0 <= r.codes.min() and r.codes.max() < 32
  assert [w.start for w in r.windows] == [0.0, 0.5, 1.0, 1.5]
  assert [w.frames for w in r.windows] == [50, 25, 25, 25]
  assert r.video_beat.shape == (125,)
  for w in r.windows:  # best of 2 by beat alignment with the video
    assert len(w.score["candidates"]) == 2
    assert w.score["beat_alignment"] == max(w.score["candidates"])
  assert r.wav.shape == (int(2.5 * 32000),) and np.isfinite(r.wav).all()
  assert r.wav[-1] == 0.0  # faded out at the end of the video
  again = pipe.generate(video, "calm piano", seed=1, best_of=2)
  np.testing.assert_array_equal(again.codes, r.codes)  # deterministic for a seed


def test_fade_out():
  wav = np.ones(100, np.float32)
  out = fade_out(wav, 10, 2.0)  # the last 20 samples
  np.testing.assert_array_equal(out[:80], 1.0)
  assert np.all(np.diff(out[80:]) < 0) and out[-1] == 0.0
  assert fade_out(wav, 10, 100.0)[49] == 1.0  # at most half of the audio
  np.testing.assert_array_equal(wav, 1.0)  # input untouched


def test_cli_prompt_from_musicgen_dir(musicgen_dir, video, tmp_path, capsys):
  bad = tmp_path / "broken.mp4"
  bad.write_text("this is not a video")
  out = tmp_path / "out"
  rc = cli.main(["generate", str(video), str(bad), "--prompt", "calm piano", "--from",
                 str(musicgen_dir), "--out", str(out), "--best-of", "2",
                 "--config.sampling.window_seconds=1.0"])
  assert rc == 0
  report = json.loads((out / "generate_report.json").read_text())
  assert [o["path"] for o in report["ok"]] == [str(video)]
  assert len(report["skipped"]) == 1 and "broken.mp4" in report["skipped"][0]["reason"]
  with av.open(report["ok"][0]["video"]) as c:
    assert len(c.streams.video) == 1 and len(c.streams.audio) == 1
    assert c.streams.audio[0].sample_rate == 32000
  assert (out / "synth_0000.wav").stat().st_size > 2.5 * 32000 * 2  # 2.5 s of 16-bit audio
  # at most one model source (none means the bundled demo model); a model folder that is
  # not there is named
  assert cli.main(["generate", str(video), "--out", str(out), "--model", str(tmp_path),
                   "--from", str(musicgen_dir)]) == 2
  assert cli.main(["generate", str(video), "--out", str(out), "--model", str(tmp_path),
                   "--prompt", "piano"]) == 2
  assert "--from MUSICGEN" in capsys.readouterr().err
