"""Synthetic music videos whose picture and sound are aligned by construction.

Each video shows one shape of one palette colour that jumps to a new place and flashes at
every beat; the soundtrack plays one note per beat whose pitch and timbre are set by the
colour, so the tempo of the motion is the tempo of the music.  The ground truth (beat times,
colour, tempo, shape) is returned and written to `labels.json`, so semantic alignment
(colour <-> timbre/pitch) and beat alignment (flash <-> onset) can be learned and measured.

Files are real h264 + AAC mp4s written with PyAV, so they go through the same decoding path
as downloaded videos.
"""

from __future__ import annotations

import itertools
import json
from fractions import Fraction
from pathlib import Path
from typing import Iterable

import av
import numpy as np

# colour name -> (RGB, note frequency in Hz, harmonic amplitudes = timbre)
PALETTE = {
    "red": ((230, 40, 40), 220.0, (1.0, 0.6, 0.45, 0.3, 0.2)),     # bright, many harmonics
    "green": ((40, 200, 60), 330.0, (1.0, 0.0, 0.33, 0.0, 0.2)),   # odd harmonics (hollow)
    "blue": ((50, 80, 235), 440.0, (1.0, 0.1)),                   # almost a sine
    "yellow": ((235, 215, 40), 587.3, (1.0, 0.5, 0.0, 0.25)),
}
TEMPOS_BPM = (60.0, 90.0, 120.0, 150.0)
SHAPES = ("square", "circle")
# for held-out evaluation: tempos between the training ones and shapes training never shows
HELD_OUT_TEMPOS_BPM = (75.0, 105.0, 135.0)
HELD_OUT_SHAPES = ("triangle", "diamond")
SOURCE_FPS = 24.0  # the videos' own frame rate: a flash is on screen within 42 ms of its beat


def regular_beats(seconds: float, bpm: float, phase: float) -> np.ndarray:
  """Beat times in seconds: every 60/bpm s starting at `phase`, strictly inside the clip."""
  return np.arange(phase, seconds - 1e-6, 60.0 / bpm)


def render_frames(beats: np.ndarray, rgb, shape: str, seconds: float, fps: float, size: int,
                  rng: np.random.Generator) -> np.ndarray:
  """Frames uint8 [T, size, size, 3]: the shape jumps to a random place at each beat and
  flashes (full brightness at the beat, decaying to 35% within ~0.2 s)."""
  num = int(round(seconds * fps))
  times = np.arange(num) / fps
  half = max(2, size // 6)
  centers = rng.uniform(half, size - half, size=(len(beats) + 1, 2))
  yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
  frames = np.full((num, size, size, 3), 20, np.uint8)
  color = np.asarray(rgb, np.float32)
  for i, t in enumerate(times):
    k = int(np.searchsorted(beats, t + 1e-6))  # beats at or before t
    since = t - beats[k - 1] if k > 0 else 1.0
    gain = 0.35 + 0.65 * np.exp(-since / 0.08)
    frames[i][_shape_mask(shape, yy, xx, *centers[k], half)] = np.clip(
        color * gain, 0, 255).astype(np.uint8)
  return frames


def _shape_mask(shape: str, yy, xx, cy: float, cx: float, half: float) -> np.ndarray:
  """bool [H, W]: pixels of `shape` centred at (cy, cx) with half-size `half`."""
  dy, dx = yy - cy, xx - cx
  if shape == "square":
    return (np.abs(dy) <= half) & (np.abs(dx) <= half)
  if shape == "circle":
    return dy ** 2 + dx ** 2 <= half ** 2
  if shape == "triangle":  # apex up
    return (dy <= half) & (dy >= -half) & (np.abs(dx) <= (dy + half) / 2)
  if shape == "diamond":
    return np.abs(dy) + np.abs(dx) <= half
  raise ValueError(f"unknown shape {shape!r}")


def render_music(beats: np.ndarray, freq: float, harmonics, seconds: float,
                 sample_rate: int) -> np.ndarray:
  """Mono float32 [S] in [-1, 1]: one decaying note of `freq` with `harmonics` per beat."""
  wav = np.zeros(int(round(seconds * sample_rate)), np.float32)
  n = int(0.6 * sample_rate)
  t = np.arange(n) / sample_rate
  note = sum(a * np.sin(2 * np.pi * freq * (h + 1) * t) for h, a in enumerate(harmonics))
  # 4 ms attack: a sharp onset; exponential decay and a smooth tail, so the note's end
  # makes no second onset
  envelope = np.minimum(t / 0.004, 1.0) * np.exp(-t / 0.1) * np.minimum((0.6 - t) / 0.2, 1.0)
  note = (note * envelope / sum(harmonics)).astype(np.float32)
  for b in beats:
    s = int(round(b * sample_rate))
    e = min(len(wav), s + n)
    wav[s:e] += note[:e - s]
  return 0.6 * wav / max(1e-6, float(np.abs(wav).max()))


def write_video(path, frames: Iterable[np.ndarray] | None, fps: float, wav: np.ndarray | None,
                sample_rate: int, faststart: bool = False) -> None:
  """Write an mp4 with an h264 video stream (if `frames`: uint8 [H, W, 3] each, an array or
  any iterable) and a mono AAC stream (if `wav`: float32 [T]); the project's one mp4 writer.

  `faststart` puts the index (moov) first, so a truncated copy still opens.
  """
  if frames is not None:
    frames = iter(frames)
    first = next(frames)
    frames = itertools.chain([first], frames)
  rate = Fraction(fps).limit_denominator(1000)
  options = {"movflags": "faststart"} if faststart else {}
  with av.open(str(path), "w", format="mp4", options=options) as out:
    vs = aus = None
    if frames is not None:
      vs = out.add_stream("libx264", rate=rate)
      vs.width, vs.height = first.shape[1], first.shape[0]
      vs.pix_fmt = "yuv420p"
      vs.options = {"preset": "veryfast", "crf": "18"}
    if wav is not None:
      aus = out.add_stream("aac", rate=sample_rate, layout="mono")
    if vs is not None:
      for i, f in enumerate(frames):
        frame = av.VideoFrame.from_ndarray(f, format="rgb24")
        frame.pts = i
        frame.time_base = 1 / rate
        out.mux(vs.encode(frame))
      out.mux(vs.encode())
    if aus is not None:
      chunk = 1024
      for s in range(0, len(wav), chunk):
        block = wav[s:s + chunk].astype(np.float32)[None, :]
        frame = av.AudioFrame.from_ndarray(block, format="fltp", layout="mono")
        frame.sample_rate = sample_rate
        frame.pts = s
        out.mux(aus.encode(frame))
      out.mux(aus.encode())


def make_synthetic_videos(out_dir, n: int, seconds: float = 10.0, seed: int = 0,
                          size: int = 64, fps: float = SOURCE_FPS,
                          sample_rate: int = 32000, tempos=TEMPOS_BPM,
                          shapes=SHAPES, picture: bool = True) -> list[dict]:
  """Write `n` aligned videos `out_dir/synth_XXXX.mp4` and `out_dir/labels.json`; with
  `picture=False` their soundtracks alone, `out_dir/synth_XXXX.wav` (music-only training).

  Each video draws its colour from PALETTE, its tempo from `tempos` and its shape from
  `shapes`.  Returns one dict per video: path, color (palette name), color_index, bpm,
  shape and beats (seconds).  Everything is a function of `seed`.
  """
  out = Path(out_dir)
  out.mkdir(parents=True, exist_ok=True)
  rng = np.random.default_rng(seed)
  colors = list(PALETTE)
  labels = []
  for i in range(n):
    c = int(rng.integers(len(colors)))
    bpm = float(tempos[int(rng.integers(len(tempos)))])
    shape = shapes[int(rng.integers(len(shapes)))]
    # first beat on a video frame so that the flash is seen exactly at the onset
    phase = int(rng.integers(0, max(1, int(fps * 60.0 / bpm)))) / fps
    beats = regular_beats(seconds, bpm, phase)
    rgb, freq, harmonics = PALETTE[colors[c]]
    frames = render_frames(beats, rgb, shape, seconds, fps, size, rng)
    wav = render_music(beats, freq, harmonics, seconds, sample_rate)
    path = out / f"synth_{i:04d}.{'mp4' if picture else 'wav'}"
    if picture:
      write_video(path, frames, fps, wav, sample_rate)
    else:
      from vmas_jax.data.audio_io import write_wav
      write_wav(path, wav, sample_rate)
    labels.append(dict(path=str(path), color=colors[c], color_index=c, bpm=bpm, shape=shape,
                       beats=[round(float(b), 6) for b in beats]))
  (out / "labels.json").write_text(json.dumps(labels, indent=1))
  return labels
