"""Decoding video files into frames sampled at a fixed rate (PyAV).

Frames are picked by presentation time, so variable-frame-rate files come out right: the
frame for sample time t is the latest decoded frame whose timestamp is <= t (the frame a
player shows at t).  Rotation metadata (display matrix) is applied, frames are resized so the
shorter side is `size` and center-cropped to `size x size`.  A time range is read by seeking
to the keyframe before `start`, and `iter_frame_chunks` yields bounded chunks, so an
hour-long video never sits in memory.

Every unusable file raises `MediaError("PATH: reason")`, naming the codec where it is the
problem.  Damaged files follow one rule, a player's with a limit: a packet that fails to decode
is skipped and the frame before it stays on screen (with a `PartialDecodeWarning` naming the
file, codec and time), as long as no more than `MAX_FROZEN_SECONDS` of picture are lost in a
row; a longer run of corrupt data, or a stream with no decodable frame, raises `MediaError`.
Data that ends early (a truncated file) ends the stream the same way.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import warnings
from typing import Iterator

import numpy as np

from vmas_jax.data.errors import MediaError

# Leading bytes of containers we might be handed; used only to word the error for files
# that FFmpeg cannot open (a cut-off mp4 vs. a file that is not media at all).
_MAGIC = ((4, b"ftyp"), (0, b"\x1a\x45\xdf\xa3"), (0, b"RIFF"), (0, b"OggS"), (0, b"FLV"),
          (0, b"\x00\x00\x01\xba"))


# Longest run of undecodable video (seconds) bridged by holding the last good frame.
MAX_FROZEN_SECONDS = 2.0


class PartialDecodeWarning(UserWarning):
  """Some of a file's video data could not be decoded and was skipped (see the module doc)."""


@dataclasses.dataclass(frozen=True)
class VideoInfo:
  duration: float  # seconds (container duration, or the video stream's)
  fps: float       # average frame rate (0 when unknown)
  width: int       # displayed width (after rotation)
  height: int      # displayed height
  rotation: int    # counter-clockwise degrees applied for display (0, 90, 180, 270)
  has_audio: bool
  has_video: bool


def _open(path):
  import av
  path = os.fspath(path)
  if not os.path.exists(path):
    raise MediaError(path, "no such file")
  if os.path.isdir(path):
    raise MediaError(path, "is a directory, not a media file")
  if os.path.getsize(path) == 0:
    raise MediaError(path, "empty file (0 bytes)")
  try:
    return av.open(path, metadata_errors="ignore")
  except av.error.FFmpegError as e:
    with open(path, "rb") as f:
      head = f.read(16)
    known = any(head[o:o + len(m)] == m for o, m in _MAGIC)
    if not known:
      what = "not a media file"
    elif isinstance(e, av.error.EOFError):
      what = "no media data after the container header (zero frames, or truncated)"
    else:
      what = "truncated or corrupt media file"
    raise MediaError(path, f"{what} (FFmpeg: {e.strerror or e})") from None


@contextlib.contextmanager
def open_video(path):
  """(container, its first video stream), closed on exit; MediaError for unusable files."""
  with _open(path) as container:
    yield container, _video_stream(container, path)


def _video_stream(container, path):
  if not container.streams.video:
    kinds = sorted({s.type for s in container.streams})
    if not kinds:
      raise MediaError(path, "no video stream: the file holds no streams (zero frames)")
    raise MediaError(path, f"no video stream (streams: {', '.join(kinds)})")
  vs = container.streams.video[0]
  if vs.codec_context is None:
    raise MediaError(path, f"video codec {codec_description(path, vs.index)} cannot be decoded "
                     "by this FFmpeg build (no decoder for it)")
  vs.thread_type = "AUTO"
  return vs


def codec_description(path, index: int) -> str:
  """FFmpeg's description of stream `index`'s codec, for a stream PyAV has no decoder for
  (then FFmpeg knows only what the container says, e.g. "none (QZQZ / 0x5A515A51)")."""
  import re

  import av
  import av.logging
  level = av.logging.get_level()
  av.logging.set_level(av.logging.VERBOSE)  # the codec is named only in FFmpeg's log
  try:
    with av.logging.Capture() as logs, av.open(os.fspath(path), metadata_errors="ignore"):
      pass
  except av.error.FFmpegError:
    logs = []
  finally:
    av.logging.set_level(level)
  for _, _, line in logs:
    m = re.search(rf"stream {index} \((?:Video|Audio): ([^,(]+(?:\([^)]*\))?)", line)
    if m:
      return repr(m.group(1).strip())
  return "(unknown)"


def _start_offset(container) -> float:
  return container.start_time / 1e6 if container.start_time is not None else 0.0


def _duration(container, vs) -> float:
  if container.duration:
    return container.duration / 1e6
  if vs.duration and vs.time_base:
    return float(vs.duration * vs.time_base)
  return 0.0


def decoded_frames(container, vs, path) -> Iterator:
  """Decoded video frames of stream `vs`, damaged data handled by the rule in the module doc."""
  import av
  codec = vs.codec_context.name
  n = 0
  last_good = bad_since = None  # seconds: last decoded frame, first corrupt packet after it
  try:
    for packet in container.demux(vs):
      try:
        frames = packet.decode()
      except av.error.FFmpegError as e:
        t = float(packet.pts * packet.time_base) if packet.pts is not None else last_good
        if bad_since is None:
          bad_since = t if t is not None else 0.0
          warnings.warn(PartialDecodeWarning(
              f"{path}: {codec} video: corrupt data at {bad_since:.2f} s skipped, the frame "
              f"before it is shown instead (FFmpeg: {e.strerror or e})"), stacklevel=2)
        continue
      for frame in frames:
        t = float(frame.time) if frame.time is not None else last_good
        _check_frozen(path, codec, bad_since, t)
        bad_since, last_good = None, t
        n += 1
        yield frame
  except av.error.FFmpegError as e:  # the demuxer: data ends early (truncated)
    if n:
      warnings.warn(PartialDecodeWarning(
          f"{path}: {codec} video: data ends after {last_good or 0:.2f} s "
          f"(truncated; FFmpeg: {e.strerror or e})"), stacklevel=2)
  if n == 0:
    raise MediaError(path, f"truncated or corrupt: no decodable {codec} video frames")
  if bad_since is not None and last_good is not None:  # corrupt up to the end
    end = float(vs.duration * vs.time_base) if vs.duration and vs.time_base else last_good
    _check_frozen(path, codec, bad_since, end)


def _check_frozen(path, codec, bad_since, t) -> None:
  if bad_since is not None and t is not None and t - bad_since > MAX_FROZEN_SECONDS:
    raise MediaError(path, f"corrupt {codec} video from {bad_since:.2f} s to {t:.2f} s (more "
                     f"than {MAX_FROZEN_SECONDS:g} s of picture lost)")


def probe_video(path) -> VideoInfo:
  """Stream facts of `path` (decodes at most the first video frame, for its rotation)."""
  with _open(path) as container:
    has_audio = bool(container.streams.audio)
    vs = _video_stream(container, path)
    rotation = 0
    for frame in decoded_frames(container, vs, path):
      rotation = _rotation(frame)
      break
    else:
      raise MediaError(path, "video stream has zero frames")
    w, h = vs.codec_context.width, vs.codec_context.height
    if rotation in (90, 270):
      w, h = h, w
    rate = vs.average_rate or vs.guessed_rate
    return VideoInfo(duration=_duration(container, vs), fps=float(rate) if rate else 0.0,
                     width=w, height=h, rotation=rotation, has_audio=has_audio, has_video=True)


def _rotation(frame) -> int:
  return int(round(getattr(frame, "rotation", 0) or 0)) % 360 // 90 * 90


def _to_rgb(frame, size: int) -> np.ndarray:
  """Frame -> uint8 [size, size, 3]: rotate for display, shorter side = size, center crop."""
  rot = _rotation(frame)
  w, h = frame.width, frame.height
  scale = size / min(w, h)
  sw, sh = max(size, round(w * scale)), max(size, round(h * scale))
  img = frame.reformat(width=sw, height=sh, format="rgb24", interpolation="AREA").to_ndarray()
  if rot:
    img = np.rot90(img, k=rot // 90)  # display matrix angle is counter-clockwise
  y0, x0 = (img.shape[0] - size) // 2, (img.shape[1] - size) // 2
  return np.ascontiguousarray(img[y0:y0 + size, x0:x0 + size])


def iter_samples(path, fps: float, size: int, *, start: float = 0.0,
                 duration: float | None = None) -> Iterator[tuple[np.ndarray, float]]:
  """Yields (frame uint8 [size, size, 3], t seconds from file start) at t = start + k / fps.

  Sampling stops at the end of the range or one frame after the last decodable frame,
  whichever is first (a truncated file yields what it has).
  """
  if fps <= 0:
    raise ValueError(f"fps must be positive, got {fps}")
  with _open(path) as container:
    vs = _video_stream(container, path)
    offset = _start_offset(container)
    end = start + duration if duration is not None else _duration(container, vs) or math.inf
    rate = float(vs.average_rate or vs.guessed_rate or 25)
    if start > 0:
      import av
      try:
        container.seek(int((start + offset) / vs.time_base), stream=vs, backward=True)
      except av.error.FFmpegError:
        container.seek(0, stream=vs)
    k = 0
    target = start
    prev = prev_t = None
    last_t = None
    for frame in decoded_frames(container, vs, path):
      t = frame.time - offset if frame.pts is not None else (
          (last_t + 1.0 / rate) if last_t is not None else 0.0)
      last_t = t
      # Emit every sample time before this frame's pts with the frame shown then.
      while target < t - 1e-6 and target < end - 1e-9:
        shown = prev if prev is not None else frame  # before the first frame: clamp
        yield _to_rgb(shown, size), target
        k += 1
        target = start + k / fps
      if target >= end - 1e-9:
        return
      prev, prev_t = frame, t
    if prev is None:
      raise MediaError(path, "video stream has zero frames" if start == 0 else
                       f"no video frames at or after {start:.3f} s")
    hold_until = min(end, prev_t + 1.0 / rate)
    while target < hold_until - 1e-6:
      yield _to_rgb(prev, size), target
      k += 1
      target = start + k / fps


def read_frames(path, fps: float, size: int, *, start: float = 0.0,
                duration: float | None = None) -> tuple[np.ndarray, np.ndarray]:
  """(frames uint8 [T, size, size, 3], times float32 [T] seconds from file start)."""
  frames, times = [], []
  for img, t in iter_samples(path, fps, size, start=start, duration=duration):
    frames.append(img)
    times.append(t)
  if not frames:
    raise MediaError(path, f"no frames in [{start:.3f}, {start + (duration or 0):.3f}) s")
  return np.stack(frames), np.asarray(times, np.float32)


def iter_frame_chunks(path, fps: float, size: int, chunk_seconds: float = 10.0, *,
                      start: float = 0.0, duration: float | None = None
                      ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
  """Yields (frames [<=C, size, size, 3], times [<=C]) with C = round(chunk_seconds * fps),
  decoding the file once; memory is bounded by one chunk."""
  per = max(1, int(round(chunk_seconds * fps)))
  frames, times = [], []
  for img, t in iter_samples(path, fps, size, start=start, duration=duration):
    frames.append(img)
    times.append(t)
    if len(frames) == per:
      yield np.stack(frames), np.asarray(times, np.float32)
      frames, times = [], []
  if frames:
    yield np.stack(frames), np.asarray(times, np.float32)


def read_clip(path, start: float, seconds: float, fps: float, size: int
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """A fixed-length clip for batching: T = round(seconds * fps) samples from `start`.

  Returns frames uint8 [T, size, size, 3], times float32 [T] (the sample grid, also for the
  padding), mask bool [T] (False where the video ended before the clip did).
  """
  n = int(round(seconds * fps))
  frames, times = read_frames(path, fps, size, start=start, duration=seconds)
  frames, times = frames[:n], times[:n]
  mask = np.zeros(n, bool)
  mask[:len(frames)] = True
  out = np.zeros((n, size, size, 3), np.uint8)
  out[:len(frames)] = frames
  grid = (start + np.arange(n) / fps).astype(np.float32)
  grid[:len(times)] = times
  return out, grid, mask
