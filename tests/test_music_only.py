"""Music-only training (vmas_jax/data/music_only.py): the conditioning curve a music clip
gets from its own onsets, the null memory for rows without a video, `vmas prepare` on music
files and on a mixed manifest, and a tiny music-only run whose loss falls."""

import json

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vmas_jax import beats, losses
from vmas_jax.build import build_model
from vmas_jax.config_defaults import tiny_config
from vmas_jax.data import music_only, pipeline, synthetic, tfds_builder
from vmas_jax.train.memory_data import make_example_batch

PEAKS = np.arange(10, 490, 24)  # 20 events, 24 frames apart


def _onset_curve():
  """A clean onset curve [500]: one sharp event (peak 1) at each of PEAKS."""
  d = np.arange(500)[:, None] - PEAKS[None, :]
  return np.where(d >= 0, np.exp(-d / 2.0), np.exp(d / 0.7)).max(1).astype(np.float32)


def test_conditioning_curve_jitters_and_drops_events():
  curve = _onset_curve()
  assert np.array_equal(np.round(beats.beat_times(curve, 50) * 50), PEAKS)
  same = music_only.conditioning_curve(curve, np.random.default_rng(0), 0, 0.0)
  np.testing.assert_allclose(same, curve, atol=1e-6)  # no jitter, no drop: the curve itself
  kept, shifts = 0, []
  for seed in range(100):
    out = music_only.conditioning_curve(curve, np.random.default_rng(seed), 2, 0.25)
    assert out.shape == curve.shape and out.max() == pytest.approx(1.0)
    peaks = np.round(beats.beat_times(out, 50) * 50).astype(int)
    near = np.abs(peaks[:, None] - PEAKS[None, :])
    assert near.min(1).max() <= 2  # every peak is an original event moved <= 2 frames
    kept += len(peaks)
    shifts += list(peaks - PEAKS[near.argmin(1)])
  assert kept / (100 * len(PEAKS)) == pytest.approx(0.75, abs=0.03)  # 25 % dropped
  counts = np.bincount(np.asarray(shifts) + 2, minlength=5) / len(shifts)
  np.testing.assert_allclose(counts, 0.2, atol=0.03)  # shifts uniform over -2..2 frames
  assert not music_only.conditioning_curve(np.zeros(50, np.float32),
                                           np.random.default_rng(0), 2, 0.2).any()


def test_music_only_transform_sets_has_video_and_the_curve():
  music = _onset_curve()
  video = np.full(500, 0.5, np.float32)
  paired = dict(music_beat=music, video_beat=video, has_video=True)
  alone = dict(music_beat=music, video_beat=np.zeros(500, np.float32), has_video=False)
  old = dict(music_beat=music, video_beat=video)  # prepared before has_video existed
  mixed = music_only.MusicOnlyCurve("mixed", 2, 0.2, 50)
  rng = np.random.default_rng(0)
  out = mixed.random_map(paired, rng)
  assert out["has_video"] and out["video_beat"] is video
  assert mixed.random_map(old, rng)["has_video"]
  out = mixed.random_map(alone, rng)
  assert not out["has_video"]
  assert 0.5 < np.corrcoef(out["video_beat"], music)[0, 1] < 1.0  # its own curve, degraded
  out = music_only.MusicOnlyCurve("music_only", 2, 0.2, 50).random_map(paired, rng)
  assert not out["has_video"] and out["video_beat"] is not video
  with pytest.raises(ValueError, match="data.mode='video'"):
    music_only.MusicOnlyCurve("video", 2, 0.2, 50)


@pytest.fixture(scope="module")
def tiny():
  c = tiny_config()
  c.data.update(dict(clip_seconds=0.5, curve_jitter_frames=2, curve_event_drop=0.2))
  c.decoder.cond_dropout = 0.0
  model = build_model(c)
  batch = make_example_batch(c, 2, seed=0)
  params = jax.jit(lambda: nn.unbox(model.init(jax.random.key(0), batch))["params"])()
  return c, model, params, batch


def test_music_only_rows_read_the_null_memory(tiny):
  c, model, params, batch = tiny
  other = dict(batch, frames=np.asarray(batch["frames"])[::-1], frame_times=batch["frame_times"],
               frame_mask=np.zeros_like(batch["frame_mask"]))
  flags = np.array([False, True])
  fwd = jax.jit(lambda p, b: model.apply({"params": p}, b))
  a = fwd(params, dict(batch, has_video=flags))
  b = fwd(params, dict(other, has_video=flags))
  # row 0 (no video) ignores the video entirely; row 1 reads it
  np.testing.assert_array_equal(a.hidden[0], b.hidden[0])
  assert not np.allclose(a.hidden[1], b.hidden[1])
  # but it keeps its beat curve: another curve changes it (the curve embedding starts at
  # zero, so give it weights first)
  beat = dict(params, beat_embed=dict(params["beat_embed"],
                                      kernel=jnp.ones_like(params["beat_embed"]["kernel"])))
  curve = dict(batch, has_video=flags, video_beat=np.asarray(batch["video_beat"])[::-1])
  assert not np.allclose(fwd(beat, curve).hidden[0],
                         fwd(beat, dict(batch, has_video=flags)).hidden[0])
  # a batch of music alone: loss and gradients do not depend on the video, and are finite
  none = np.array([False, False])
  grad = jax.jit(jax.grad(lambda p, b: losses.vmas_loss(
      model.apply({"params": p}, b), b, c.loss)[0]))
  loss = jax.jit(lambda p, b: losses.vmas_loss(model.apply({"params": p}, b), b, c.loss))
  la, ma = loss(params, dict(batch, has_video=none))
  lb, _ = loss(params, dict(other, has_video=none))
  assert float(la) == float(lb) and float(ma["loss_contrastive"]) == 0.0
  g = grad(params, dict(other, has_video=none))
  assert all(bool(jnp.isfinite(x).all()) for x in jax.tree.leaves(g))
  assert float(jnp.abs(g["video_proj"]["kernel"]).max()) == 0.0


def test_music_only_model_generates_from_the_null_memory(tiny, tmp_path):
  from vmas_jax.generate import load_run_config
  c, _, params, batch = tiny
  c = c.copy_and_resolve_references()
  c.data.mode = "music_only"
  (tmp_path / "config.json").write_text(c.to_json_best_effort())  # as `vmas train` saves it
  model = build_model(load_run_config(tmp_path))  # what `vmas generate --workdir` builds
  assert not model.video_memory
  cond = model.apply({"params": params}, batch["frames"], batch["frame_times"],
                     batch["frame_mask"], batch["video_beat"], method="encode_video")
  null = params["decoder"]["null_memory"]
  assert cond["memory"].shape == (2, 1, null.shape[0])
  np.testing.assert_array_equal(cond["memory"], jnp.broadcast_to(null, (2, 1, null.shape[0])))
  assert cond["offsets"] is not None  # the video's beat curve still conditions it


def _prepare(inputs, out, mode):
  c = tiny_config()
  c.data.update(dict(clip_seconds=1.0, mode=mode, validation_fraction=0.0))
  report = tfds_builder.build_dataset(inputs, out, c, progress=False)
  c.data.update(dict(dir=str(out), global_batch_size=2))
  return c, report


@pytest.fixture(scope="module")
def media(tmp_path_factory):
  root = tmp_path_factory.mktemp("media")
  synthetic.make_synthetic_videos(root / "music", 2, seconds=1.0, size=32, picture=False)
  synthetic.make_synthetic_videos(root / "videos", 1, seconds=1.0, size=32, seed=3)
  (root / "music" / "notes.txt").write_text("not music")
  return root


@pytest.mark.long
def test_prepare_a_folder_of_music_files_and_train_on_it(media, tmp_path):
  from vmas_jax.train import train
  c, report = _prepare(media / "music", tmp_path / "data", "music_only")
  c.data.update(dict(curve_jitter_frames=0, curve_event_drop=0.0))  # the curve unchanged
  assert sorted(report["ok"]) == sorted(str(p) for p in (media / "music").glob("*.wav"))
  assert [s["reason"] for s in report["skipped"]][0].startswith("not a media file")
  batch = next(pipeline.make_train_iterator(c))
  assert not batch["has_video"].any() and not batch["frame_mask"].any()
  assert batch["frames"].shape == (2, 4, 32, 32, 3)  # the same shapes as paired batches
  np.testing.assert_allclose(batch["video_beat"], batch["music_beat"], atol=1e-6)
  assert batch["video_beat"].max() > 0
  # the same files in the default (paired) mode: skipped, no picture
  with pytest.raises(ValueError, match="no usable video"):
    _prepare(media / "music", tmp_path / "paired", "paired")
  # a tiny music-only run learns
  c.update(dict(total_steps=16, checkpoint_every=16, log_every=4, eval_every=0,
                tensorboard=False))
  c.data.update(dict(clip_seconds=0.5, curve_jitter_frames=2, curve_event_drop=0.2))
  c.optim.learning_rate = 3e-3
  train(c, tmp_path / "run")
  rows = [json.loads(l) for l in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
  assert rows[-1]["loss_ar"] < 0.7 * rows[0]["loss_ar"], (rows[0], rows[-1])
  assert all(r["loss_contrastive"] == 0.0 for r in rows)


def test_prepare_a_mixed_manifest(media, tmp_path):
  manifest = tmp_path / "mixed.csv"
  music = sorted((media / "music").glob("*.wav"))[0]
  video = sorted((media / "videos").glob("*.mp4"))[0]
  manifest.write_text(f"path\n{music}\n{video}\n")
  c, report = _prepare(manifest, tmp_path / "data", "mixed")
  assert sorted(report["ok"]) == sorted([str(music), str(video)]) and not report["skipped"]
  batch = next(pipeline.make_train_iterator(c))
  rows = {bool(h): i for i, h in enumerate(batch["has_video"])}
  assert set(rows) == {True, False}
  assert batch["frame_mask"][rows[True]].all() and not batch["frame_mask"][rows[False]].any()
  assert batch["frames"][rows[True]].any()


@pytest.mark.long
def test_bench_music_only_runs_with_standardised_features(tmp_path):
  """`vmas bench music-only` end to end, tiny, with the alignment recipe's stored and
  standardised features: music alone has no frames to measure, so training skips the
  feature statistics (it failed on them, "no valid frames")."""
  from vmas_jax import cli
  work = tmp_path / "bench"
  assert cli.main(["bench", "music-only", "--config", "tiny", "--workdir", str(work),
                   "--heldout", "2", "--config.data.mode=music_only",
                   "--config.total_steps=1", "--config.data.synthetic_examples=2",
                   "--config.video.use_features=True", "--config.data.frames_format=features",
                   "--config.video.standardize_features=True"]) == 0
  report = json.loads((work / "music_only.json").read_text())
  assert set(report["results"]) == {"video", "flat", "shuffled", "true soundtrack (ceiling)"}
  for r in report["results"].values():
    for domain in ("codes", "audio"):
      assert 0.0 <= r[domain]["beat_f1"] <= 1.0
