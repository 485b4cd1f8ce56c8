"""A licence-clean training corpus of real instrument sounds: random MIDI songs rendered by
FluidSynth with the FluidR3 General MIDI sound font (MIT licence; Debian `fluid-soundfont-gm`).

  vmas codec make-corpus --out DIR [--songs 200] [--seconds 20] [--seed 0]

needs `apt-get install fluidsynth fluid-soundfont-gm` and `pip install pretty-midi`.  Each song
is a pure function of (seed, index): a tempo, a key and a scale, 1-4 pitched instruments
(melody, chords or arpeggios, bass) drawn from the GM programs, and usually a drum part.
Writes DIR/song_XXXX.mid and DIR/song_XXXX.wav (mono, 32 kHz).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np

SOUND_FONT = "/usr/share/sounds/sf2/FluidR3_GM.sf2"
SCALES = ((0, 2, 4, 5, 7, 9, 11), (0, 2, 3, 5, 7, 8, 10), (0, 2, 4, 7, 9), (0, 3, 5, 7, 10),
          (0, 2, 3, 5, 7, 9, 10))
# GM programs: pianos, chromatic percussion, organs, guitars, basses, strings, ensembles,
# brass, reeds, pipes, synth leads and pads (no sound effects, 120-127)
PROGRAMS = tuple(range(0, 120))
DRUMS = dict(kick=36, snare=38, closed_hat=42, open_hat=46, low_tom=45, high_tom=50,
             crash=49, ride=51, clap=39)


def _scale_notes(rng, low: int, high: int, root: int, scale) -> list[int]:
  return [p for p in range(low, high + 1) if (p - root) % 12 in scale]


def random_song(seed: int, index: int, seconds: float):
  """A `pretty_midi.PrettyMIDI` song, a function of (seed, index)."""
  import pretty_midi
  rng = np.random.default_rng([seed, index])
  bpm = float(rng.uniform(60, 170))
  beat = 60.0 / bpm
  root, scale = int(rng.integers(12)), SCALES[rng.integers(len(SCALES))]
  song = pretty_midi.PrettyMIDI(initial_tempo=bpm)
  for role in rng.choice(["melody", "chords", "arpeggio", "bass"], size=rng.integers(1, 5),
                         replace=False):
    inst = pretty_midi.Instrument(program=int(rng.choice(PROGRAMS)))
    low, high = dict(melody=(55, 91), chords=(48, 76), arpeggio=(48, 84), bass=(28, 52))[role]
    pitches = _scale_notes(rng, low, high, root, scale)
    t, pos = float(rng.uniform(0, beat)), int(rng.integers(len(pitches)))
    while t < seconds:
      length = beat * float(rng.choice([0.25, 0.5, 0.5, 1.0, 1.0, 2.0]))
      vel = int(rng.integers(45, 120))
      if role == "chords":
        chord = [pitches[min(pos + i, len(pitches) - 1)] for i in (0, 2, 4)]
        length = beat * float(rng.choice([1.0, 2.0, 4.0]))
        for p in chord:
          inst.notes.append(pretty_midi.Note(vel, p, t, t + length * 0.95))
        pos = int(rng.integers(len(pitches) - 4))
      else:
        if rng.random() > 0.12:  # else a rest
          inst.notes.append(pretty_midi.Note(vel, pitches[pos], t,
                                             t + length * float(rng.uniform(0.5, 1.0))))
        step = int(rng.choice([-2, -1, -1, 1, 1, 2, 3, -3, 0]))
        pos = int(np.clip(pos + step, 0, len(pitches) - 1))
      t += length
    song.instruments.append(inst)
  if rng.random() < 0.75:
    drums = pretty_midi.Instrument(program=0, is_drum=True)
    sixteenth = beat / 4
    kick = rng.random(16) < np.array([0.9, 0, 0.1, 0, 0.2, 0, 0.3, 0, 0.7, 0, 0.2, 0.1, 0.2, 0,
                                      0.3, 0.1])
    snare = rng.random(16) < np.array([0, 0, 0, 0, 0.9, 0, 0, 0.1, 0, 0, 0, 0, 0.9, 0, 0, 0.2])
    hat_every = int(rng.choice([1, 2, 4]))
    hat = DRUMS["ride"] if rng.random() < 0.2 else DRUMS["closed_hat"]
    t, i = 0.0, 0
    while t < seconds:
      k = i % 16
      for hit, pitch in ((kick[k], DRUMS["kick"]), (snare[k], DRUMS["snare"]),
                         (k % hat_every == 0, hat), (i % 64 == 0 and i > 0, DRUMS["crash"])):
        if hit:
          drums.notes.append(pretty_midi.Note(int(rng.integers(50, 127)), pitch, t,
                                              t + sixteenth))
      t += sixteenth
      i += 1
    song.instruments.append(drums)
  return song


def make_midi_corpus(out_dir, songs: int, seconds: float = 20.0, seed: int = 0,
                     sample_rate: int = 32000, sound_font: str = SOUND_FONT) -> list[str]:
  """Render `songs` random songs to `out_dir` (skipping those already rendered); returns the
  WAV paths."""
  from vmas_jax.data.audio_io import load_audio, write_wav
  if shutil.which("fluidsynth") is None or not Path(sound_font).is_file():
    raise FileNotFoundError(f"needs the fluidsynth program and {sound_font}: "
                            "apt-get install fluidsynth fluid-soundfont-gm")
  out = Path(out_dir)
  out.mkdir(parents=True, exist_ok=True)
  paths = []
  for i in range(songs):
    wav_path = out / f"song_{i:04d}.wav"
    paths.append(str(wav_path))
    if wav_path.is_file():
      continue
    mid = out / f"song_{i:04d}.mid"
    random_song(seed, i, seconds).write(str(mid))
    raw = out / f"song_{i:04d}.raw.wav"
    subprocess.run(["fluidsynth", "-ni", "-q", "-g", "0.6", "-r", str(sample_rate), "-F",
                    str(raw), sound_font, str(mid)], check=True, capture_output=True)
    wav = load_audio(raw, sample_rate)
    raw.unlink()
    peak = float(np.abs(wav).max())
    write_wav(wav_path, wav * (0.9 / peak if peak > 0.9 else 1.0), sample_rate)
  return paths
