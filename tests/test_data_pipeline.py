"""The Grain pipeline on a synthetic dataset built through `ensure_dataset`: the batch
contract, random windows, per-host sharding, exact resume, global arrays."""

import io

import jax
import numpy as np
import pytest
from PIL import Image

from vmas_jax.config_utils import load_config
from vmas_jax.data import pipeline, tfds_builder
from vmas_jax.train.state import to_global_batch

# 6 synthetic 2 s clips at 4 fps, 32x32; training windows of 1 s cut from them
OVERRIDES = ["--config.data.synthetic_examples=6", "--config.data.validation_fraction=0.0",
             "--config.data.global_batch_size=2"]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
  mp = pytest.MonkeyPatch()
  mp.setenv("VMAS_DATA_CACHE", str(tmp_path_factory.mktemp("cache")))
  config = load_config("tiny", OVERRIDES)
  path = pipeline.ensure_dataset(config)
  yield path
  mp.undo()


def _config(data_dir, *extra):
  return load_config("tiny", [*OVERRIDES, f"--config.data.dir={data_dir}", *extra])


def _stored(data_dir):
  source = tfds_builder.load_builder(data_dir).as_data_source("train")
  return {source[i]["id"]: source[i] for i in range(len(source))}


def test_ensure_dataset_builds_once_and_checks_dirs(data_dir, tmp_path):
  config = load_config("tiny", OVERRIDES)
  assert pipeline.ensure_dataset(config) == data_dir  # cached: same folder, no rebuild
  assert len(_stored(data_dir)) == 6
  assert pipeline.ensure_dataset(_config(data_dir)) == data_dir
  with pytest.raises(FileNotFoundError, match=str(tmp_path)):
    pipeline.ensure_dataset(_config(tmp_path))
  with pytest.raises(ValueError, match="image_size"):
    next(pipeline.make_train_iterator(_config(data_dir, "--config.video.image_size=64"),
                                      process_index=0, process_count=1))


def test_batch_contract_and_random_windows(data_dir):
  config = _config(data_dir, "--config.data.clip_seconds=1.0")
  ds = pipeline.make_dataset(config, process_index=0, process_count=1, with_ids=True)
  stored = _stored(data_dir)
  offsets = set()
  for step in range(6):
    batch = ds[step]
    assert batch["codes"].shape == (2, 4, 50) and batch["codes"].dtype == np.int32
    assert batch["frames"].shape == (2, 4, 32, 32, 3) and batch["frames"].dtype == np.uint8
    assert batch["frame_mask"].all() and batch["frame_mask"].shape == (2, 4)
    np.testing.assert_allclose(batch["frame_times"], np.tile(np.arange(4) / 4, (2, 1)))
    for key in ("video_beat", "music_beat"):
      assert batch[key].shape == (2, 50) and batch[key].dtype == np.float32
      assert 0 <= batch[key].min() and batch[key].max() <= 1
    for b in range(2):
      record = stored[batch["id"][b]]
      # windows start on a time that is a whole number of video and codec frames (0.5 s),
      # and codes, frames and beats are all cut at that one time (a clip that repeats itself
      # can have the same codes at two offsets: the frames and beats tell them apart)
      def window_at(c0, record=record, b=b):
        f0 = c0 * 4 // 50
        jpeg = [np.asarray(Image.open(io.BytesIO(x))) for x in record["frames"][f0:f0 + 4]]
        return (np.array_equal(record["codes"][:, c0:c0 + 50], batch["codes"][b])
                and len(jpeg) == 4 and np.array_equal(np.stack(jpeg), batch["frames"][b])
                and np.array_equal(record["music_beat"][c0:c0 + 50], batch["music_beat"][b]))
      matches = [c0 for c0 in (0, 25, 50) if window_at(c0)]
      assert matches, "the window is not one aligned slice of the stored clip"
      offsets.add(matches[0])
  assert len(offsets) > 1  # the window really moves


def test_two_hosts_read_disjoint_halves_that_cover_the_epoch(data_dir):
  config = _config(data_dir)
  ids = []
  for host in (0, 1):
    ds = pipeline.make_dataset(config, process_index=host, process_count=2, repeat=False,
                               with_ids=True)
    host_ids = [i for batch in ds for i in batch["id"]]
    assert len(host_ids) == 3
    ids.append(set(host_ids))
    # the repeating train iterator's first epoch is the same set, reshuffled afterwards
    it = pipeline.make_train_iterator(config, process_index=host, process_count=2)
    first = [next(it)["codes"] for _ in range(3)]
    assert len(first) == 3 and first[0].shape == (1, 4, 100)
  assert not ids[0] & ids[1]
  assert ids[0] | ids[1] == set(_stored(data_dir))


@pytest.mark.parametrize("workers", [0, 1])
def test_restored_iterator_yields_exactly_the_next_batch(data_dir, workers):
  config = _config(data_dir, "--config.data.clip_seconds=1.0",
                   f"--config.data.num_workers={workers}")
  it = pipeline.make_train_iterator(config, process_index=0, process_count=1)
  for _ in range(4):  # past the end of the first epoch (3 batches)
    next(it)
  state = it.get_state()
  expected = [next(it) for _ in range(2)]
  restored = pipeline.make_train_iterator(config, process_index=0, process_count=1)
  restored.set_state(state)
  for want in expected:
    got = next(restored)
    assert sorted(got) == sorted(want)
    for key in want:
      np.testing.assert_array_equal(got[key], want[key], err_msg=key)


def test_to_global_batch(data_dir):
  config = _config(data_dir)
  batch = next(pipeline.make_train_iterator(config, process_index=0, process_count=1))
  mesh = jax.make_mesh((1,), ("data",))
  sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("data"))
  arrays = to_global_batch(batch, sharding)
  for key, value in batch.items():
    assert isinstance(arrays[key], jax.Array) and arrays[key].sharding == sharding
    np.testing.assert_array_equal(np.asarray(arrays[key]), value)


def test_features_format_end_to_end(tmp_path):
  from vmas_jax.data import synthetic
  labels = synthetic.make_synthetic_videos(tmp_path / "v", 1, seconds=2.0, size=32, fps=4.0)
  config = load_config("tiny", [
      "--config.data.frames_format=features", "--config.data.global_batch_size=1",
      "--config.data.validation_fraction=0.0", f"--config.data.dir={tmp_path / 'd'}"])
  report = tfds_builder.build_dataset([labels[0]["path"]], tmp_path / "d", config,
                                      progress=False)
  assert report["splits"]["train"]["clips"] == 1
  batch = next(pipeline.make_train_iterator(config, process_index=0, process_count=1))
  tokens = config.video.tokens_per_frame
  assert "frames" not in batch
  assert batch["features"].dtype == np.float32
  assert batch["features"].shape[:3] == (1, 8, tokens) and np.isfinite(batch["features"]).all()
