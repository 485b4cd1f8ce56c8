"""Music-only clips (after V2M-Zero): training without paired videos.

A music-only clip has codes and a music onset curve but no picture (`has_video` False).  The
model reads the decoder's null memory for it, and its conditioning curve -- the `video_beat`
slot that a video's beat curve fills at generation -- is the clip's *own* onset curve,
degraded at random every time the clip is read:

  curve = conditioning_curve(music_beat, rng, jitter_frames=2, event_drop=0.2)

The onset curve is cut into events (one peak each, from the valley before it to the valley
after it); each event is moved by a whole number of codec frames in [-jitter, jitter] and
dropped with probability `event_drop`, and the result is scaled back to peak 1.  So the
curve says roughly where accents go but not all of them, nor exactly: the model learns to
follow it rather than copy the music out of it.  Both curves are the same quantity: [0, 1],
peak-normalised, one value per codec frame (`beats.music_beat_curve` and
`beats.video_beat_curve` share the grid of `codec.frame_rate`).

`data.mode` (config) decides which clips are music-only: "paired" none (files without a
picture are skipped at prepare), "mixed" those of files without a picture, "music_only" all.
Batches stay the same shapes: a music-only clip stores no frames, and the pipeline pads it
like any short clip (frame_mask all False).
"""

from __future__ import annotations

import grain
import numpy as np

from vmas_jax import beats
from vmas_jax.data.errors import MediaError

MODES = ("paired", "mixed", "music_only")
EVENT_THRESHOLD = 0.3  # onset-curve peaks at least this high are events (as `beats.beat_times`)


def conditioning_curve(onsets: np.ndarray, rng: np.random.Generator, jitter_frames: int,
                       event_drop: float, frame_rate: float = 50) -> np.ndarray:
  """A music clip's onset curve float32 [F] -> its conditioning curve [F] (module doc)."""
  onsets = np.asarray(onsets, np.float32)
  peaks = np.round(beats.beat_times(onsets, frame_rate, EVENT_THRESHOLD) * frame_rate)
  peaks = peaks.astype(int)
  if peaks.size == 0:
    return np.zeros_like(onsets)
  # event i spans [bounds[i], bounds[i + 1]): valleys between neighbouring peaks
  valleys = [a + int(np.argmin(onsets[a:b])) for a, b in zip(peaks[:-1], peaks[1:])]
  bounds = [0, *valleys, len(onsets)]
  keep = rng.random(len(peaks)) >= event_drop
  shifts = rng.integers(-jitter_frames, jitter_frames + 1, len(peaks)) if jitter_frames else \
      np.zeros(len(peaks), int)
  out = np.zeros_like(onsets)
  for i in np.flatnonzero(keep):
    a, b = bounds[i], bounds[i + 1]
    lo, hi = max(0, a + shifts[i]), min(len(onsets), b + shifts[i])
    if lo < hi:
      out[lo:hi] = np.maximum(out[lo:hi], onsets[lo - shifts[i]:hi - shifts[i]])
  peak = float(out.max(initial=0.0))
  return out / peak if peak > 0 else out


class MusicOnlyCurve(grain.transforms.RandomMap):
  """Record -> record with `has_video` (bool) and, for a music-only clip, its conditioning
  curve in `video_beat`.  Under `mode="music_only"` every clip is music-only."""

  def __init__(self, mode: str, jitter_frames: int, event_drop: float, frame_rate: float):
    if mode not in MODES:
      raise ValueError(f"data.mode={mode!r}: expected one of {MODES}")
    self.mode, self.jitter, self.drop, self.rate = mode, jitter_frames, event_drop, frame_rate

  def random_map(self, record, rng: np.random.Generator):
    has_video = bool(record.get("has_video", True)) and self.mode != "music_only"
    out = dict(record, has_video=has_video)
    if not has_video:
      out["video_beat"] = conditioning_curve(record["music_beat"], rng, self.jitter, self.drop,
                                             self.rate)
    return out


def has_picture(path) -> bool:
  """Whether the file has a video stream that is not just cover art (an attached picture)."""
  import av
  try:
    with av.open(str(path)) as box:
      return any(not s.disposition & av.stream.Disposition.attached_pic
                 for s in box.streams.video)
  except av.FFmpegError as e:
    raise MediaError(path, f"unreadable media ({type(e).__name__}: {e.strerror or e})") from e
