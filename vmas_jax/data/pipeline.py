"""Grain input pipeline: prepared clips -> training batches (`vmas_jax.data.batch_spec`).

  TFDS ArrayRecord source -> per-host slice -> seeded shuffle (new order every epoch) ->
  random clip window -> music-only curve (`data.mode`, data/music_only.py) -> batch ->
  JPEG decode / pad + mask -> multiprocess prefetch

Every random choice is a function of (seed, record index), so `get_state()` / `set_state()`
on the iterator resume exactly; the training checkpoint stores that state.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import threading
from fractions import Fraction
from pathlib import Path

import grain
import numpy as np

from vmas_jax.data import clips, music_only, tfds_builder
from vmas_jax.data.batch_spec import batch_spec

def _check_compatible(stored: dict, config, data_dir) -> None:
  want = clips.clip_settings(config)
  for key in ("fps", "image_size", "frames_format", "frame_rate", "num_codebooks"):
    if stored[key] != want[key]:
      raise ValueError(f"{data_dir}: dataset was prepared with {key}={stored[key]!r} but the "
                       f"config asks for {want[key]!r}; prepare it again with this config")
  if stored.get("mode") == "music_only" and want["mode"] != "music_only":
    raise ValueError(f"{data_dir}: dataset holds music alone (prepared with data.mode="
                     f"'music_only'); train it with --config.data.mode=music_only, so that "
                     "generation reads the null memory as training did")
  if stored["clip_seconds"] + 1e-6 < want["clip_seconds"]:
    raise ValueError(f"{data_dir}: stored clips last {stored['clip_seconds']} s, shorter than "
                     f"data.clip_seconds={want['clip_seconds']}")


def _window_step(fps: float, frame_rate: int) -> Fraction:
  """Smallest time shift (s) that is a whole number of video frames and of codec frames."""
  a, b = Fraction(1) / Fraction(fps).limit_denominator(1000), Fraction(1, frame_rate)
  return Fraction(math.lcm(a.numerator * b.denominator, b.numerator * a.denominator),
                  a.denominator * b.denominator)


class ClipWindow(grain.transforms.RandomMap):
  """Cut a random window of `seconds` out of a longer stored clip (aligned to both rates)."""

  def __init__(self, seconds: float, stored_seconds: float, fps: float, frame_rate: int):
    self.num_frames = int(round(seconds * fps))
    self.num_codes = int(round(seconds * frame_rate))
    self.fps, self.frame_rate = fps, frame_rate
    step = _window_step(fps, frame_rate)
    self.step = float(step)
    self.choices = int(math.floor((stored_seconds - seconds) / step + 1e-6)) + 1

  def random_map(self, record, rng: np.random.Generator):
    k = int(rng.integers(self.choices)) if self.choices > 1 else 0
    offset = k * self.step
    f0, c0 = int(round(offset * self.fps)), int(round(offset * self.frame_rate))
    out = dict(record)
    for key in ("frames", "features"):
      if key in record:
        out[key] = record[key][f0:f0 + self.num_frames]
    out["frame_times"] = record["frame_times"][f0:f0 + self.num_frames] - np.float32(offset)
    for key in ("codes",):
      out[key] = record[key][:, c0:c0 + self.num_codes]
    for key in ("music_beat", "video_beat"):
      out[key] = record[key][c0:c0 + self.num_codes]
    return out


_TOKENIZER_LOCK = threading.Lock()


class DecodeBatch(grain.transforms.Map):
  """A list of stored (windowed) records -> one batch of `spec` (the batch contract,
  `vmas_jax.data.batch_spec`), fixed shapes, padding masked.  JPEGs are decoded straight into
  the batch array: at the small config's shapes a batch is ~385 MB of pixels, so every avoided
  copy counts."""

  def __init__(self, spec: dict, fps: float, with_ids: bool = False, text: dict | None = None):
    self.spec, self.fps, self.with_ids = spec, fps, with_ids
    self.text = text  # the config's `text` section (text_ids / text_mask) or None
    self._tokenizer = None

  def _text(self, records, out) -> None:
    """Captions -> out's text_ids, text_mask int32 [B, text.max_tokens] ("" when none stored)."""
    from vmas_jax.build import text_tokenizer
    from vmas_jax.models.text.tokenizer import tokenize_fixed
    # Built lazily, once per worker process; under a lock, because Grain maps batches on
    # several threads and transformers' lazy imports fail when two threads race through them.
    with _TOKENIZER_LOCK:
      if self._tokenizer is None:
        import ml_collections
        self._tokenizer = text_tokenizer(ml_collections.ConfigDict(self.text))
    captions = [r.get("caption", b"") for r in records]
    captions = [c.decode() if isinstance(c, bytes) else str(c) for c in captions]
    out["text_ids"][:], out["text_mask"][:] = tokenize_fixed(self._tokenizer, captions,
                                                             int(self.text["max_tokens"]))

  def map(self, records):
    from PIL import Image
    b = len(records)
    out = {k: np.zeros((b,) + s.shape[1:], s.dtype) for k, s in self.spec.items()}
    key = "frames" if "frames" in out else "features"
    frames, times, mask = out[key], out["frame_times"], out["frame_mask"]
    t = times.shape[1]
    times[:] = (np.arange(t) / self.fps).astype(np.float32)
    for i, record in enumerate(records):
      items = record[key][:min(t, len(record["frame_times"]))]  # music-only clips: none
      n = len(items)
      if key == "frames":
        for k, jpeg in enumerate(items):
          frames[i, k] = np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB"))
      else:
        frames[i, :n] = items
      # padded frames keep the times they would have had: position embeddings stay monotone
      times[i, :n] = record["frame_times"][:n]
      mask[i, :n] = True
    out["codes"][:] = np.stack([r["codes"] for r in records])
    for name in ("video_beat", "music_beat"):
      out[name][:] = np.clip(np.stack([r[name] for r in records]), 0, 1)
    out["has_video"][:] = [r.get("has_video", True) for r in records]
    if self.text is not None:
      self._text(records, out)
    if self.with_ids:  # bytes: for evaluation and tests, not for the device
      out["id"] = np.array([r["id"] for r in records], dtype=object)
    return out


def _source(data_dir, split: str):
  builder = tfds_builder.load_builder(data_dir)
  return builder.as_data_source(split=split), dict(builder.info.metadata["settings"])


def make_dataset(config, *, split: str = "train", process_index: int | None = None,
                 process_count: int | None = None, shuffle: bool = True,
                 repeat: bool = True, with_ids: bool = False,
                 data_dir=None) -> grain.MapDataset:
  """The per-host MapDataset of batches (before prefetch). Batch = global batch / hosts.
  with_ids adds "id" (clip ids, bytes) to each batch."""
  import jax
  process_index = jax.process_index() if process_index is None else process_index
  process_count = jax.process_count() if process_count is None else process_count
  data_dir = data_dir or ensure_dataset(config)
  source, stored = _source(data_dir, split)
  _check_compatible(stored, config, data_dir)
  d = config.data
  if d.global_batch_size % process_count:
    raise ValueError(f"data.global_batch_size={d.global_batch_size} is not divisible by "
                     f"the {process_count} processes")
  ds = grain.MapDataset.source(source)
  if len(ds) < process_count:
    raise ValueError(f"{data_dir}: split {split!r} has {len(ds)} clips, fewer than the "
                     f"{process_count} processes")
  ds = ds[process_index::process_count]  # disjoint per-host slices that cover the split
  if shuffle:
    ds = ds.shuffle(seed=int(d.shuffle_seed))  # reshuffled every epoch by `repeat`
  if repeat:
    ds = ds.repeat()
  fps, rate = float(config.video.video_fps), int(config.codec.frame_rate)
  ds = ds.random_map(ClipWindow(float(d.clip_seconds), stored["clip_seconds"], fps, rate),
                     seed=int(d.shuffle_seed) + 1)
  ds = ds.random_map(music_only.MusicOnlyCurve(str(d.mode), int(d.curve_jitter_frames),
                                               float(d.curve_event_drop), rate),
                     seed=int(d.shuffle_seed) + 2)
  ds = ds.batch(d.global_batch_size // process_count, drop_remainder=repeat, batch_fn=list)
  # the stored features' width is the backbone's that prepared them
  width = source[0]["features"].shape[-1] if stored["frames_format"] == "features" else None
  text = config.text.to_dict() if config.text.enabled else None
  return ds.map(DecodeBatch(batch_spec(config, 1, width), fps, with_ids, text))


def make_train_iterator(config, *, process_index: int | None = None,
                        process_count: int | None = None, split: str = "train",
                        data_dir=None) -> grain.DatasetIterator:
  """Infinite iterator of host-local batch dicts; `get_state()`/`set_state()` resume it."""
  d = config.data
  # grain's default read-ahead is 500 elements on 16 threads; ours are whole batches
  read = grain.ReadOptions(num_threads=int(d.read_threads),
                           prefetch_buffer_size=int(d.prefetch_buffer))
  ds = make_dataset(config, split=split, process_index=process_index,
                    process_count=process_count, data_dir=data_dir).to_iter_dataset(read)
  if d.num_workers > 0:
    from absl import flags
    if not flags.FLAGS.is_parsed():  # grain's workers read absl flags; outside absl.app
      flags.FLAGS.mark_as_parsed()   # they would fail with UnparsedFlagAccessError
    ds = ds.mp_prefetch(grain.MultiprocessingOptions(
        num_workers=int(d.num_workers), per_worker_buffer_size=int(d.prefetch_buffer)))
  return iter(ds)


def make_eval_iterator(config, *, split: str = "validation", process_index=None,
                       process_count=None, with_ids: bool = True,
                       data_dir=None) -> grain.DatasetIterator:
  """One pass over `split` in stored order (last batch may be smaller), with clip ids."""
  ds = make_dataset(config, split=split, process_index=process_index,
                    process_count=process_count, shuffle=False, repeat=False,
                    with_ids=with_ids, data_dir=data_dir)
  return iter(ds.to_iter_dataset(grain.ReadOptions(num_threads=int(config.data.read_threads),
                                                   prefetch_buffer_size=2)))


def synthetic_dir(config) -> Path:
  """Cache folder of the synthetic dataset for `config` (keyed by what changes its content)."""
  from vmas_jax.data.synthetic import training_set_options
  options = training_set_options(config)
  # only the variations that are on: the plain sets keep the keys they always had
  varied = {k: options[k] for k in ("beat_jitter", "colour_change", "beat_grid") if options[k]}
  key = json.dumps(dict(n=int(config.data.synthetic_examples), seed=int(config.seed),
                        settings=clips.clip_settings(config), **varied), sort_keys=True)
  root = os.environ.get("VMAS_DATA_CACHE") or Path.home() / ".cache" / "vmas_jax"
  return Path(root) / f"synthetic_{hashlib.sha1(key.encode()).hexdigest()[:12]}"


def _prepared(data_dir) -> bool:
  return (Path(data_dir) / tfds_builder.NAME / tfds_builder.VERSION /
          "dataset_info.json").is_file()


def build_synthetic(config, data_dir, *, progress: bool = True) -> dict:
  """Write config.data.synthetic_examples aligned videos (one clip each) under
  data_dir/videos and build them like any other input; returns the prepare report."""
  from vmas_jax.data.synthetic import make_synthetic_videos, training_set_options
  data_dir = Path(data_dir)
  make_synthetic_videos(data_dir / "videos", int(config.data.synthetic_examples),
                        size=int(config.video.image_size), **training_set_options(config))
  return tfds_builder.build_dataset(data_dir / "videos", data_dir, config, progress=progress)


def ensure_dataset(config) -> str:
  """config.data.dir if set (error if not prepared); else the cached synthetic dataset,
  built on first use when config.data.synthetic_examples > 0."""
  d = config.data
  if d.dir:
    if not _prepared(d.dir):
      raise FileNotFoundError(f"{d.dir}: no prepared dataset (run `vmas prepare --output "
                              f"{d.dir}`)")
    return str(d.dir)
  if d.synthetic_examples <= 0:
    raise ValueError("config.data.dir is empty and data.synthetic_examples is 0: "
                     "nothing to train on")
  target = synthetic_dir(config)
  if not _prepared(target):
    import fcntl
    target.mkdir(parents=True, exist_ok=True)
    # one builder at a time (several processes of one host may start together)
    with open(target / ".lock", "w") as lock:
      fcntl.flock(lock, fcntl.LOCK_EX)
      if not _prepared(target):
        build_synthetic(config, target, progress=False)
  return str(target)
