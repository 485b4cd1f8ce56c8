"""Synthetic in-memory batches of the training batch (`vmas_jax.data.batch_spec`).

Used by `vmas bench train` (so the input pipeline is not what is measured), by the tests of
the training system, and as the iterator-state reference: any iterator the loop consumes has
`__next__() -> dict of numpy [B_local, ...]`, `get_state() -> JSON-able dict`, `set_state(d)`.
Example `i` is a pure function of (seed, i), so the order is exact across restarts and the
global batch is the same whatever the number of processes.
"""

from __future__ import annotations

import numpy as np

from vmas_jax.data.batch_spec import batch_spec


def make_example_batch(config, batch_size: int, seed: int, start: int = 0,
                       feature_dim: int | None = None) -> dict[str, np.ndarray]:
  """Batch of examples start..start+batch_size-1 (each from its own RNG stream), shaped by
  `batch_spec(config, batch_size, feature_dim)`."""
  spec = batch_spec(config, 1, feature_dim)
  shape = lambda name: spec[name].shape[1:]
  video = "features" if "features" in spec else "frames"
  rows = []
  for i in range(start, start + batch_size):
    rng = np.random.default_rng([seed, i])
    ex = {"codes": rng.integers(0, config.codec.codebook_size, shape("codes"), dtype=np.int32)}
    if video == "features":
      ex["features"] = rng.standard_normal(shape("features"), dtype=np.float32)
    else:
      ex["frames"] = rng.integers(0, 256, shape("frames"), dtype=np.uint8)
    t = shape("frame_times")[0]
    ex["frame_times"] = (np.arange(t) / config.video.video_fps).astype(np.float32)
    ex["frame_mask"] = np.ones((t,), bool)
    ex["video_beat"] = rng.random(shape("video_beat")[0], dtype=np.float32)
    # A music beat target that follows the video beat, so the beat head has something to learn.
    ex["music_beat"] = (ex["video_beat"] > 0.8).astype(np.float32)
    ex["has_video"] = np.True_  # every synthetic example is a paired clip
    text = config.text
    if text.enabled:  # a random caption of 1..max_tokens tokens
      length = int(rng.integers(1, text.max_tokens + 1))
      ex["text_ids"] = np.where(np.arange(text.max_tokens) < length, rng.integers(
          1, text.vocab_size, text.max_tokens), 0).astype(np.int32)
      ex["text_mask"] = (np.arange(text.max_tokens) < length).astype(np.int32)
    rows.append(ex)
  return {k: np.stack([r[k] for r in rows]) for k in spec}


class InMemoryIterator:
  """Endless synthetic batches; this process's slice of each global batch.

  num_examples > 0 cycles over that many examples (a small fixed dataset, e.g. to overfit);
  0 draws fresh examples forever.
  """

  def __init__(self, config, *, process_index: int = 0, process_count: int = 1,
               num_examples: int = 0, seed: int | None = None, feature_dim: int | None = None):
    self.config = config
    self.feature_dim = feature_dim
    self.global_batch = config.data.global_batch_size
    if self.global_batch % process_count:
      raise ValueError(f"global_batch_size {self.global_batch} is not divisible by "
                       f"{process_count} processes")
    self.local_batch = self.global_batch // process_count
    self.process_index = process_index
    self.num_examples = num_examples
    self.seed = config.data.shuffle_seed if seed is None else seed
    self._step = 0

  def __iter__(self):
    return self

  def __next__(self) -> dict[str, np.ndarray]:
    start = self._step * self.global_batch + self.process_index * self.local_batch
    if self.num_examples:
      idx = [(start + j) % self.num_examples for j in range(self.local_batch)]
      parts = [make_example_batch(self.config, 1, self.seed, i, self.feature_dim) for i in idx]
      batch = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    else:
      batch = make_example_batch(self.config, self.local_batch, self.seed, start,
                                 self.feature_dim)
    self._step += 1
    return batch

  def get_state(self) -> dict:
    return {"step": self._step, "seed": self.seed, "num_examples": self.num_examples}

  def set_state(self, state: dict) -> None:
    if state["seed"] != self.seed or state["num_examples"] != self.num_examples:
      raise ValueError(f"iterator state {state} was saved by a different synthetic dataset")
    self._step = int(state["step"])
