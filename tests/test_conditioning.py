"""One conditioning for prepare and generation; its beat curve finds the synthetic flashes."""

import numpy as np
import pytest

from vmas_jax import beats
from vmas_jax.conditioning import clip_conditioning
from vmas_jax.config_defaults import tiny_config
from vmas_jax.config_utils import load_config
from vmas_jax.data import clips
from vmas_jax.data.synthetic import HELD_OUT_SHAPES, HELD_OUT_TEMPOS_BPM, TEMPOS_BPM, \
    make_synthetic_videos
from vmas_jax.eval.beat_metrics import beat_f_measure
from vmas_jax.generate import MusicVideoPipeline

SECONDS = 5.0


def _demo_config():
  return load_config("demo")


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
  d = tmp_path_factory.mktemp("flash")
  return make_synthetic_videos(d, 4, seconds=SECONDS, seed=11, size=64,
                               tempos=TEMPOS_BPM + HELD_OUT_TEMPOS_BPM,
                               shapes=HELD_OUT_SHAPES)


@pytest.mark.parametrize("make_config", [tiny_config, _demo_config], ids=["tiny", "demo"])
def test_video_beat_curve_finds_the_flashes(videos, make_config):
  c = make_config()
  c.data.clip_seconds = SECONDS
  settings = clips.clip_settings(c)
  assert settings["fps"] < settings["motion_fps"] == 24.0
  f1 = [beat_f_measure(beats.beat_times(clip_conditioning(v["path"], 0.0, SECONDS,
                                                          settings).video_beat, 50),
                       v["beats"]) for v in videos]
  assert np.mean(f1) >= 0.9, f1


def test_prepare_and_generation_condition_on_the_same_curve(videos):
  c = tiny_config()
  c.data.clip_seconds = SECONDS
  path = videos[0]["path"]
  (_, example), = clips.local_video_clips(path, clips.clip_settings(c))
  pipe = MusicVideoPipeline(c, params=None)
  video, times, mask, curve = pipe._window_inputs(path, 0.0, SECONDS)
  assert curve.shape == (int(SECONDS * 50),) and curve.max() == pytest.approx(1.0)
  np.testing.assert_array_equal(curve, example["video_beat"])
  np.testing.assert_array_equal(times[mask], example["frame_times"])
  assert mask.all() and len(video) == len(example["frames"])
