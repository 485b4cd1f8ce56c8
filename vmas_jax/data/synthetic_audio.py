"""Synthetic music for codec training and tests: notes, chords, drums and silence.

  wav, notes = random_segment(rng, seconds=1.0, sample_rate=32000)   # float32 [T], [Note]
  wav = render_notes([Note(0.1, 220.0, "bright"), ...], seconds, sample_rate)

Everything is a function of the numpy `Generator` passed in.  Pitches cover the synthetic
videos' palette (`vmas_jax.data.synthetic.PALETTE`) and MIDI notes 28-100 (41 Hz - 2.6 kHz);
timbres are harmonic spectra (the palette's, saw, square, sine, organ), plucked strings
(upper harmonics decay faster) and inharmonic bells; percussion is filtered noise bursts and
pitch-swept kicks.  A segment is a melody, chords, drums, a mix of them, or silence, at a
random loudness.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from vmas_jax.data.synthetic import PALETTE

# timbre name -> (partial ratios, amplitudes); ratios are multiples of f0
TIMBRES = {
    **{f"palette_{name}": (tuple(range(1, len(h) + 1)), tuple(h))
       for name, (_, _, h) in PALETTE.items()},
    "sine": ((1,), (1.0,)),
    "saw": (tuple(range(1, 13)), tuple(1.0 / n for n in range(1, 13))),
    "square": (tuple(range(1, 13, 2)), tuple(1.0 / n for n in range(1, 13, 2))),
    "organ": ((1, 2, 3, 4, 6, 8), (1.0, 0.7, 0.5, 0.3, 0.2, 0.1)),
    "pluck": (tuple(range(1, 11)), tuple(0.9 ** n for n in range(10))),
    "bell": ((1.0, 2.76, 5.40, 8.93, 13.34), (1.0, 0.6, 0.4, 0.25, 0.2)),
}
PALETTE_FREQS = tuple(f for _, f, _ in PALETTE.values())


@dataclasses.dataclass(frozen=True)
class Note:
  onset: float  # seconds
  freq: float  # Hz (f0)
  timbre: str = "saw"
  duration: float = 0.5  # seconds until the release ends
  gain: float = 1.0
  decay: float = 0.25  # seconds (exponential amplitude decay)
  attack: float = 0.005  # seconds


def note_wave(note: Note, sample_rate: int) -> np.ndarray:
  """One note, float32 `[round(duration * sample_rate)]`, peak about `gain`."""
  n = max(1, int(round(note.duration * sample_rate)))
  t = np.arange(n) / sample_rate
  ratios, amps = TIMBRES[note.timbre]
  wave = np.zeros(n)
  plucked = note.timbre == "pluck"
  for r, a in zip(ratios, amps):
    f = note.freq * r
    if f >= 0.45 * sample_rate:
      break
    partial = a * np.sin(2 * np.pi * f * t)
    if plucked or note.timbre == "bell":  # upper partials die sooner
      partial *= np.exp(-t * r / (4 * note.decay))
    wave += partial
  release = min(0.05, note.duration / 4)
  env = (np.minimum(t / max(note.attack, 1e-4), 1.0) * np.exp(-t / note.decay)
         * np.clip((note.duration - t) / release, 0.0, 1.0))
  wave *= env
  return (note.gain * wave / max(1e-6, np.abs(wave).max())).astype(np.float32)


def render_notes(notes, seconds: float, sample_rate: int) -> np.ndarray:
  """The sum of `notes` (cut at `seconds`), float32 `[round(seconds * sample_rate)]`."""
  out = np.zeros(int(round(seconds * sample_rate)), np.float32)
  for note in notes:
    s = int(round(note.onset * sample_rate))
    if s >= len(out):
      continue
    w = note_wave(note, sample_rate)[:len(out) - s]
    out[s:s + len(w)] += w
  return out


def _drum_hit(rng: np.random.Generator, sample_rate: int) -> np.ndarray:
  """A kick (sine swept down), a snare/hat (noise, band-limited by FFT shaping) or a mix."""
  kind = rng.integers(3)
  n = int(rng.uniform(0.05, 0.35) * sample_rate)
  t = np.arange(n) / sample_rate
  decay = rng.uniform(0.01, 0.12)
  if kind == 0:  # kick
    f = rng.uniform(40, 70) + rng.uniform(60, 150) * np.exp(-t / 0.03)
    hit = np.sin(2 * np.pi * np.cumsum(f) / sample_rate)
  else:  # noise with a random band
    spec = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1 / sample_rate)
    lo = rng.uniform(50, 4000) if kind == 1 else rng.uniform(3000, 9000)
    hi = min(lo * rng.uniform(2, 8), 15500)
    spec[(freqs < lo) | (freqs > hi)] *= 0.05
    hit = np.fft.irfft(spec, n)
  hit = hit * np.exp(-t / decay) * np.minimum(t / 0.001, 1.0)
  return (hit / max(1e-6, np.abs(hit).max())).astype(np.float32)


def random_notes(rng: np.random.Generator, seconds: float, *, chords: bool = False,
                 gap: tuple[float, float] = (0.08, 0.7)) -> list[Note]:
  """A melody (or a chord sequence) of random notes starting in the first gap."""
  notes, t = [], float(rng.uniform(0.0, gap[1]))
  timbre = list(TIMBRES)[rng.integers(len(TIMBRES))]
  while t < seconds:
    if rng.random() < 0.3:
      root = float(PALETTE_FREQS[rng.integers(len(PALETTE_FREQS))])
    else:
      root = 440.0 * 2 ** ((rng.integers(28, 101) - 69) / 12)
    freqs = [root]
    if chords:
      intervals = ((0, 4, 7), (0, 3, 7), (0, 5, 9), (0, 4, 7, 11), (0, 7))[rng.integers(5)]
      freqs = [root * 2 ** (i / 12) for i in intervals]
    duration = float(rng.uniform(0.1, 1.2))
    decay = float(rng.uniform(0.05, 1.0))
    gain = float(rng.uniform(0.3, 1.0)) / len(freqs)
    attack = float(rng.choice([0.002, 0.005, 0.02, 0.06]))
    if rng.random() < 0.15:  # a new instrument now and then
      timbre = list(TIMBRES)[rng.integers(len(TIMBRES))]
    for f in freqs:
      notes.append(Note(t, f, timbre, duration, gain, decay, attack))
    t += float(rng.uniform(*gap))
  return notes


def random_segment(rng: np.random.Generator, seconds: float = 1.0,
                   sample_rate: int = 32000) -> tuple[np.ndarray, list[Note]]:
  """One training segment, float32 `[round(seconds * sample_rate)]` with peak <= 0.95, and
  the notes in it.  Kinds: melody, chords, drums, melody + drums, chords + drums, silence."""
  n = int(round(seconds * sample_rate))
  kind = rng.choice(["melody", "chords", "drums", "melody_drums", "chords_drums", "silence"],
                    p=[0.3, 0.15, 0.1, 0.2, 0.15, 0.1])
  notes: list[Note] = []
  if "melody" in kind:
    notes += random_notes(rng, seconds)
  if "chords" in kind:
    notes += random_notes(rng, seconds, chords=True, gap=(0.25, 1.0))
  wav = render_notes(notes, seconds, sample_rate)
  if "drums" in kind:
    t = float(rng.uniform(0, 0.3))
    step = float(rng.uniform(0.1, 0.5))
    drums = np.zeros(n, np.float32)
    while t < seconds:
      s = int(t * sample_rate)
      hit = _drum_hit(rng, sample_rate)[:n - s] * rng.uniform(0.3, 1.0)
      drums[s:s + len(hit)] += hit
      t += step * rng.choice([0.5, 1.0, 1.0, 2.0])
    mix = rng.uniform(0.2, 0.8) if notes else 1.0
    wav = wav / max(1e-6, np.abs(wav).max()) * (1 - mix) + drums * mix if notes else drums
  if kind == "silence":  # digital silence or a faint noise floor
    wav = rng.standard_normal(n).astype(np.float32) * (0.0 if rng.random() < 0.5 else 1e-3)
    return wav.astype(np.float32), []
  peak = float(np.abs(wav).max())
  level = 10 ** (rng.uniform(-30, -1) / 20)  # -30 .. -1 dBFS peak
  return (wav * (level / max(peak, 1e-6))).astype(np.float32), notes
