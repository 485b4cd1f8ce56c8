"""Put generated music into a video: the video stream is copied as is (no re-encoding) and
the music is encoded as AAC, trimmed or zero-padded to the video's duration."""

from __future__ import annotations

import os
from pathlib import Path

import av
import numpy as np

from vmas_jax.data.errors import MediaError


def _video_duration(stream, container) -> float:
  if stream.duration is not None and stream.time_base is not None:
    return float(stream.duration * stream.time_base)
  if container.duration is not None:
    return container.duration / av.time_base
  raise MediaError(container.name, "video duration is unknown")


def mux_music(video_path: str | os.PathLike, wav: np.ndarray, sample_rate: int,
              out_path: str | os.PathLike, *, bitrate: int = 192_000) -> Path:
  """Write `out_path` = the video of `video_path` with `wav` [T] (mono float) as its audio.

  Existing audio tracks of the input are dropped.  The output container follows the
  extension of `out_path` (.mp4 / .mkv / .mov).
  """
  out_path = Path(out_path)
  tmp = out_path.with_name(out_path.name + ".part" + out_path.suffix)
  try:
    src = av.open(str(video_path))
  except (av.FFmpegError, OSError) as e:
    raise MediaError(video_path, f"cannot open ({e})") from None
  with src:
    if not src.streams.video:
      raise MediaError(video_path, "no video stream")
    vin = src.streams.video[0]
    duration = _video_duration(vin, src)
    n = int(round(duration * sample_rate))
    audio = np.zeros(n, np.float32)
    wav = np.asarray(wav, np.float32).reshape(-1)[:n]
    audio[: wav.size] = np.clip(wav, -1.0, 1.0)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(tmp), "w", format=_format_for(out_path)) as dst:
      vout = dst.add_stream_from_template(vin)
      aout = dst.add_stream("aac", rate=sample_rate, layout="mono")
      aout.bit_rate = bitrate
      for packet in src.demux(vin):
        if packet.dts is None:  # the demuxer's final flush packet
          continue
        packet.stream = vout
        dst.mux(packet)
      chunk = 1024 * 8
      for i in range(0, n, chunk):
        frame = av.AudioFrame.from_ndarray(audio[None, i:i + chunk], format="flt", layout="mono")
        frame.sample_rate = sample_rate
        frame.pts = i
        dst.mux(aout.encode(frame))
      dst.mux(aout.encode(None))
  os.replace(tmp, out_path)  # never leave a half-written output under the final name
  return out_path


def _format_for(path: Path) -> str:
  return {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska",
          ".webm": "webm"}.get(path.suffix.lower(), "mp4")
