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
TEMPO_MARGIN_BPM = 5.0  # continuous training tempos keep this far from the held-out ones
SOURCE_FPS = 24.0  # the videos' own frame rate: a flash is on screen within 42 ms of its beat


def regular_beats(seconds: float, bpm: float, phase: float) -> np.ndarray:
  """Beat times in seconds: every 60/bpm s starting at `phase`, strictly inside the clip."""
  return np.arange(phase, seconds - 1e-6, 60.0 / bpm)


def jittered_beats(beats: np.ndarray, jitter: float, fps: float, seconds: float,
                   rng: np.random.Generator) -> np.ndarray:
  """Each beat moved by up to +-`jitter` of the beat period (uniform), kept on a video frame,
  in order and inside the clip: a rhythm the music's own past cannot predict."""
  if jitter <= 0 or len(beats) < 2:
    return beats
  period = float(np.median(np.diff(beats)))
  moved = beats + rng.uniform(-jitter, jitter, len(beats)) * period
  moved = np.round(np.clip(moved, 0.0, seconds - 1.0 / fps) * fps) / fps
  return np.unique(moved)


def _continuous_tempo(rng: np.random.Generator, low: float, high: float, avoid) -> float:
  """A tempo uniform in [low, high] bpm, at least TEMPO_MARGIN_BPM from each of `avoid`."""
  while True:
    bpm = float(rng.uniform(low, high))
    if all(abs(bpm - a) >= TEMPO_MARGIN_BPM for a in avoid):
      return round(bpm, 3)


def snap_beats(beats: np.ndarray, grid: float) -> np.ndarray:
  """Beats rounded to multiples of `grid` seconds (0: unchanged), one for one.  On the
  codec's 20 ms frame grid every note starts at the same phase of a codec frame, so it has
  one token pattern instead of one per phase."""
  if grid <= 0:
    return beats
  return np.round(np.asarray(beats) / grid) * grid


def beat_colours(n_beats: int, first: int, change: float, rng: np.random.Generator
                 ) -> np.ndarray:
  """Palette index per beat: `first`, switching to another colour at each later beat with
  probability `change` (0: one colour for the whole clip)."""
  out = np.full(n_beats, first, np.int64)
  for i in range(1, n_beats):
    out[i] = out[i - 1]
    if change > 0 and rng.random() < change:
      out[i] = (out[i - 1] + int(rng.integers(1, len(PALETTE)))) % len(PALETTE)
  return out


def render_frames(beats: np.ndarray, rgb, shape: str, seconds: float, fps: float, size: int,
                  rng: np.random.Generator) -> np.ndarray:
  """Frames uint8 [T, size, size, 3]: the shape jumps to a random place at each beat and
  flashes (full brightness at the beat, decaying to 35% within ~0.2 s).  `rgb`: one colour,
  or one per beat ([len(beats), 3]; before the first beat the shape has the first's)."""
  num = int(round(seconds * fps))
  times = np.arange(num) / fps
  half = max(2, size // 6)
  centers = rng.uniform(half, size - half, size=(len(beats) + 1, 2))
  yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
  frames = np.full((num, size, size, 3), 20, np.uint8)
  colors = np.broadcast_to(np.asarray(rgb, np.float32).reshape(-1, 3), (max(1, len(beats)), 3))
  for i, t in enumerate(times):
    k = int(np.searchsorted(beats, t + 1e-6))  # beats at or before t
    since = t - beats[k - 1] if k > 0 else 1.0
    gain = 0.35 + 0.65 * np.exp(-since / 0.08)
    frames[i][_shape_mask(shape, yy, xx, *centers[k], half)] = np.clip(
        colors[max(k - 1, 0)] * gain, 0, 255).astype(np.uint8)
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
                 sample_rate: int, notes: list | None = None) -> np.ndarray:
  """Mono float32 [S] in [-1, 1]: one decaying note of `freq` with `harmonics` per beat
  (or, with `notes`, beat i plays `notes[i]` = (freq, harmonics))."""
  wav = np.zeros(int(round(seconds * sample_rate)), np.float32)
  n = int(0.6 * sample_rate)
  t = np.arange(n) / sample_rate
  # 4 ms attack: a sharp onset; exponential decay and a smooth tail, so the note's end
  # makes no second onset
  envelope = np.minimum(t / 0.004, 1.0) * np.exp(-t / 0.1) * np.minimum((0.6 - t) / 0.2, 1.0)

  def note(f, h):
    tone = sum(a * np.sin(2 * np.pi * f * (i + 1) * t) for i, a in enumerate(h))
    return (tone * envelope / sum(h)).astype(np.float32)

  cache = {}
  for i, b in enumerate(beats):
    f, h = notes[i] if notes is not None else (freq, harmonics)
    key = (f, tuple(h))
    if key not in cache:
      cache[key] = note(f, h)
    s = int(round(b * sample_rate))
    e = min(len(wav), s + n)
    wav[s:e] += cache[key][:e - s]
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


def training_set_options(config) -> dict:
  """make_synthetic_videos keywords for a training set of `config` (its clip length, seed,
  sample rate, and `data.synthetic_beat_jitter` / `_colour_change` / `_beat_grid`)."""
  d = config.data
  return dict(seconds=float(d.clip_seconds), seed=int(config.seed),
              sample_rate=int(config.codec.sample_rate),
              beat_jitter=float(d.get("synthetic_beat_jitter", 0.0)),
              colour_change=float(d.get("synthetic_colour_change", 0.0)),
              beat_grid=float(d.get("synthetic_beat_grid", 0.0)),
              continuous_tempo=bool(d.get("synthetic_continuous_tempo", False)),
              avoid_tempos=HELD_OUT_TEMPOS_BPM)


def make_synthetic_videos(out_dir, n: int, seconds: float = 10.0, seed: int = 0,
                          size: int = 64, fps: float = SOURCE_FPS,
                          sample_rate: int = 32000, tempos=TEMPOS_BPM,
                          shapes=SHAPES, picture: bool = True, beat_jitter: float = 0.0,
                          colour_change: float = 0.0, beat_grid: float = 0.0,
                          continuous_tempo: bool = False, avoid_tempos=()) -> list[dict]:
  """Write `n` aligned videos `out_dir/synth_XXXX.mp4` and `out_dir/labels.json`; with
  `picture=False` their soundtracks alone, `out_dir/synth_XXXX.wav` (music-only training).

  Each video draws its colour from PALETTE, its tempo from `tempos` and its shape from
  `shapes`.  Returns one dict per video: path, color (palette name of the first beat),
  color_index, bpm, shape, beats (seconds) and beat_colors (one name per beat).  Everything
  is a function of `seed`.

  For training sets that make the video necessary: `beat_jitter` moves every beat by up to
  that fraction of the period (`jittered_beats`), so the rhythm of the music so far does not
  tell where the next note falls; `colour_change` switches the colour (and the note) at each
  beat with that probability (`beat_colours`), so the notes so far do not tell the next one.
  Both 0 (the default) give one colour at a steady tempo.  `beat_grid` > 0 puts every beat
  on that grid of seconds (`snap_beats`).  `continuous_tempo` draws each tempo uniformly
  between the least and the greatest of `tempos` instead of from them, never within
  TEMPO_MARGIN_BPM of `avoid_tempos` (the held-out ones): a model then cannot learn a few
  beat periods by heart and must time its notes from the video.
  """
  out = Path(out_dir)
  out.mkdir(parents=True, exist_ok=True)
  rng = np.random.default_rng(seed)
  colors = list(PALETTE)
  labels = []
  for i in range(n):
    c = int(rng.integers(len(colors)))
    bpm = float(tempos[int(rng.integers(len(tempos)))])
    if continuous_tempo:  # drawn only then, so the plain sets of a seed stay as they were
      bpm = _continuous_tempo(rng, min(tempos), max(tempos), avoid_tempos)
    shape = shapes[int(rng.integers(len(shapes)))]
    # first beat on a video frame so that the flash is seen exactly at the onset
    phase = int(rng.integers(0, max(1, int(fps * 60.0 / bpm)))) / fps
    beats = regular_beats(seconds, bpm, phase)
    varied = beat_jitter > 0 or colour_change > 0
    if varied:  # drawn only then, so the plain sets of a seed stay as they were
      beats = jittered_beats(beats, beat_jitter, fps, seconds, rng)
      per_beat = beat_colours(len(beats), c, colour_change, rng)
    else:
      per_beat = np.full(len(beats), c)
    if beat_grid > 0:
      beats = snap_beats(beats, beat_grid)
      inside = beats < seconds - 1e-6  # a last beat rounded up to the clip's end is dropped
      beats, per_beat = beats[inside], per_beat[inside]
    rgb, freq, harmonics = PALETTE[colors[c]]
    beat_rgb = [PALETTE[colors[j]][0] for j in per_beat] if len(per_beat) else rgb
    frames = render_frames(beats, beat_rgb, shape, seconds, fps, size, rng)
    wav = render_music(beats, freq, harmonics, seconds, sample_rate,
                       notes=[PALETTE[colors[j]][1:] for j in per_beat] if varied else None)
    path = out / f"synth_{i:04d}.{'mp4' if picture else 'wav'}"
    if picture:
      write_video(path, frames, fps, wav, sample_rate)
    else:
      from vmas_jax.data.audio_io import write_wav
      write_wav(path, wav, sample_rate)
    labels.append(dict(path=str(path), color=colors[c], color_index=c, bpm=bpm, shape=shape,
                       beats=[round(float(b), 6) for b in beats],
                       beat_colors=[colors[j] for j in per_beat]))
  (out / "labels.json").write_text(json.dumps(labels, indent=1))
  return labels
