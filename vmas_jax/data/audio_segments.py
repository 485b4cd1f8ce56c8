"""Codec training input: random fixed-length segments of audio files and of synthetic music.

  it = make_segment_iterator(config)   # grain iterator of {"wav": float32 [B_local, T]}

Record i of the (endless) stream is a pure function of (seed, i): with probability
`synthetic_fraction` a segment of `vmas_jax.data.synthetic_audio`, else a window of a file
(files drawn in proportion to their duration), at a random peak level.  So `get_state()` /
`set_state()` of the Grain iterator resume exactly.  Each process reads its own slice of the
stream (i = process_index, process_index + process_count, ...).
"""

from __future__ import annotations

import bisect
from pathlib import Path

import grain
import numpy as np

from vmas_jax.data import synthetic_audio
from vmas_jax.data.audio_io import audio_info, load_audio
from vmas_jax.data.errors import MediaError

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".m4a", ".aac", ".aif",
                    ".aiff", ".wma", ".webm", ".mka", ".mp4", ".mkv")


def list_audio(spec) -> list[str]:
  """Audio files of a folder (recursive, by extension) or a CSV manifest (`path` column)."""
  if str(spec).lower().endswith(".csv"):
    from vmas_jax.data.tfds_builder import list_inputs
    return [p for p, _ in list_inputs(spec)]
  folder = Path(spec)
  if not folder.is_dir():
    raise FileNotFoundError(f"{spec}: not a folder or a .csv manifest of audio files")
  return sorted(str(p.absolute()) for p in folder.rglob("*")
                if p.suffix.lower() in AUDIO_EXTENSIONS and p.is_file())


class SegmentSource:
  """`segment(i) -> float32 [T]`: record i of the stream described in the module docstring."""

  def __init__(self, files, seconds: float, sample_rate: int, synthetic_fraction: float,
               seed: int, level_db: tuple[float, float] = (-24.0, -1.0)):
    self.seconds, self.sample_rate, self.seed = seconds, sample_rate, seed
    self.synthetic_fraction = synthetic_fraction if files else 1.0
    self.level_db = level_db
    self.files, durations, self.skipped = [], [], []
    for f in files:
      try:
        d = audio_info(f).duration
      except MediaError as e:
        self.skipped.append((str(f), str(e)))
        continue
      self.files.append(str(f))
      durations.append(d)
    if files and not self.files:
      raise ValueError(f"none of the {len(files)} audio files could be read, e.g. "
                       f"{self.skipped[0][1]}")
    self.durations = np.asarray(durations, np.float64)
    self.cumulative = np.cumsum(self.durations).tolist()

  def segment(self, index: int) -> np.ndarray:
    rng = np.random.default_rng([self.seed, int(index)])
    n = int(round(self.seconds * self.sample_rate))
    if rng.random() < self.synthetic_fraction:
      wav, _ = synthetic_audio.random_segment(rng, self.seconds, self.sample_rate)
      return wav
    k = min(bisect.bisect_right(self.cumulative, rng.uniform(0, self.cumulative[-1])),
            len(self.files) - 1)
    start = rng.uniform(0, max(0.0, self.durations[k] - self.seconds - 0.05))
    wav = load_audio(self.files[k], self.sample_rate, start=start, duration=self.seconds)
    wav = np.pad(wav[:n], (0, max(0, n - len(wav))))
    peak = float(np.abs(wav).max())
    if peak > 1e-4:  # a random level; (near-)silent windows stay as they are
      wav = wav * (10 ** (rng.uniform(*self.level_db) / 20) / peak)
    return wav.astype(np.float32)


def make_segment_iterator(config, *, process_index: int = 0, process_count: int = 1):
  """Grain iterator of `{"wav": float32 [global_batch / process_count, T]}` batches.

  config.data: audio (folder / CSV / ""), segment_seconds, synthetic_fraction, seed,
  global_batch_size; config.codec.sample_rate.
  """
  d = config.data
  files = list_audio(d.audio) if d.audio else []
  source = SegmentSource(files, float(d.segment_seconds), int(config.codec.sample_rate),
                         float(d.synthetic_fraction), int(d.seed))
  for path, reason in source.skipped:
    print(f"skipped {path}: {reason}")
  if d.global_batch_size % process_count:
    raise ValueError(f"data.global_batch_size={d.global_batch_size} is not divisible by "
                     f"{process_count} processes")
  ds = grain.MapDataset.range(2 ** 40)[process_index::process_count]
  ds = ds.map(lambda i: {"wav": source.segment(i)})
  ds = ds.batch(d.global_batch_size // process_count, drop_remainder=True)
  return iter(ds.to_iter_dataset())
