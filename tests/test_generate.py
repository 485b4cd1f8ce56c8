"""Generation end to end: a tiny run's work directory, then video in -> music video out."""

import json

import av
import numpy as np
import pytest

import flax.linen as nn
import jax
import jax.numpy as jnp

from vmas_jax import cli
from vmas_jax.config_defaults import tiny_config
from vmas_jax.data.synthetic import make_synthetic_videos
from vmas_jax.generate import MusicVideoPipeline, load_run_config
from vmas_jax.build import build_model
from vmas_jax.train import checkpoint as ckpt
from vmas_jax.train.memory_data import make_example_batch


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
  """A work directory laid out as training leaves it: config.json + an Orbax checkpoint of
  freshly initialised tiny VMAS params (a real run is covered by the training tests)."""
  wd = tmp_path_factory.mktemp("run")
  c = tiny_config()
  model = build_model(c)
  batch = make_example_batch(c, 1, seed=0)
  params = jax.jit(lambda: nn.unbox(model.init(jax.random.key(0), batch))["params"])()
  (wd / "config.json").write_text(c.to_json_best_effort())
  manager = ckpt.make_manager(wd, keep=1, async_save=False)
  ckpt.save(manager, 1, {"params": params, "step": jnp.int32(1)}, {})
  manager.wait_until_finished()
  manager.close()
  return wd


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
