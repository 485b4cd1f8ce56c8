"""Music for a video from a text prompt alone, with no VMAS run.

  pipe = TextMusicVideoPipeline.from_pretrained("facebook/musicgen-small")
  result = pipe("clip.mp4", "out/", prompt="calm piano")   # out/clip.wav, out/clip_music.mp4

The music is MusicGen's, conditioned on the prompt; the video sets its length and chooses
among N candidates: in each window the candidate whose beats (librosa, on its audio) fall
nearest the video's accents (peaks of its motion curve) is kept.  Videos longer than
`window_seconds` are generated in windows, each continuing from the last `overlap_seconds`
of the music already chosen (as `MusicVideoPipeline` does for VMAS runs); the music is
trimmed to the video's duration and faded out over its last `fade_seconds`.
"""

from __future__ import annotations

from pathlib import Path

import jax
import numpy as np

from vmas_jax import beats
from vmas_jax.data.audio_io import write_wav
from vmas_jax.data.errors import MediaError
from vmas_jax.data.mux import mux_music
from vmas_jax.data.video_io import probe_video, read_clip
from vmas_jax.eval.beat_metrics import beat_alignment
from vmas_jax.generate import Result, Window
from vmas_jax.text_to_music import TextToMusic

# Low-resolution grey frames at this rate give the motion curve: fine enough to place beats
# (the frame backbone of a VMAS run is not available here, so motion is the whole curve).
MOTION_FPS = 24.0
MOTION_SIZE = 32
FADE_SECONDS = 1.0


class TextMusicVideoPipeline:
  """A MusicGen model (`TextToMusic`) fitted to videos; sampling defaults from `sampling`
  (keys of `config.sampling`: top_k, top_p, temperature, guidance_scale, window_seconds,
  overlap_seconds, best_of), by default `vmas_jax.config_defaults.base_config().sampling`."""

  def __init__(self, model: TextToMusic, sampling: dict | None = None):
    from vmas_jax.config_defaults import base_config
    self.model = model
    self.sampling = dict(base_config().sampling.to_dict(), **(sampling or {}))

  @classmethod
  def from_pretrained(cls, path_or_repo_id, sampling: dict | None = None):
    """From a full MusicGen directory or hub id (e.g. facebook/musicgen-small)."""
    return cls(TextToMusic.from_pretrained(path_or_repo_id), sampling)

  def video_beats(self, path, first: int, num_frames: int):
    """Motion curve float32 [num_frames] of the video from codec frame `first`, and its beat
    times in seconds from that frame."""
    fr = self.model.frame_rate
    start = first / fr
    frames, times, mask = read_clip(path, start, num_frames / fr, MOTION_FPS, MOTION_SIZE)
    n = int(mask.sum())
    curve = beats.video_beat_curve(num_frames, frame_rate=fr,
                                   motion=beats.low_res_gray(frames[:n]),
                                   motion_times=times[:n] - start)
    return curve, beats.beat_times(curve, fr)

  def generate(self, path, prompt: str = "", *, seconds: float | None = None, seed: int = 0,
               best_of: int | None = None, fade_seconds: float = FADE_SECONDS,
               **sampling) -> Result:
    """Music for the video at `path` (its first `seconds`, default all of it)."""
    sc = dict(self.sampling, **sampling)
    best_of = int(best_of or sc["best_of"])
    m = self.model
    fr, k = m.frame_rate, m.decoder.config.num_codebooks
    duration = probe_video(path).duration
    total = duration if seconds is None else min(seconds, duration)
    total_frames = int(round(total * fr))
    if total_frames < 1:
      raise MediaError(path, f"too short to put music under ({total:.3f} s)")
    window = min(int(round(float(sc["window_seconds"]) * fr)), m.max_frames, total_frames)
    overlap = min(int(round(float(sc["overlap_seconds"]) * fr)), window // 2)
    options = dict(top_k=int(sc["top_k"]), top_p=float(sc["top_p"]),
                   temperature=float(sc["temperature"]),
                   guidance_scale=float(sc["guidance_scale"]))

    codes = np.zeros((k, 0), np.int32)
    windows: list[Window] = []
    rng = jax.random.key(seed)
    while codes.shape[1] < total_frames:
      done = codes.shape[1]
      # continue from `overlap` frames; the last window moves back to keep its full length
      first = min(max(0, done - overlap) if done else 0, total_frames - window)
      curve, video_beats = self.video_beats(path, first, window)
      prompt_codes = None
      if done:
        prompt_codes = np.broadcast_to(codes[None, :, first:done], (best_of, k, done - first))
      rng, key = jax.random.split(rng)
      cand = m.generate([prompt] * best_of, window, key, prompt_codes=prompt_codes, **options)
      pick, score = self._pick(cand, video_beats)
      new = cand[pick][:, done - first:]
      codes = np.concatenate([codes, new], axis=1)
      windows.append(Window(start=first / fr, frames=new.shape[1],
                            video_beat=curve[window - new.shape[1]:],
                            video_beat_times=video_beats + first / fr, score=score))
    wav = m.decode(codes[None])[0, :int(round(total * m.sample_rate))]
    return Result(samples=fade_out(wav, m.sample_rate, fade_seconds), sample_rate=m.sample_rate,
                  codes=codes, windows=windows)

  def _pick(self, cand, video_beats):
    """Index of the candidate [N, K, F] whose music beats align best with the video's."""
    if cand.shape[0] == 1:
      return 0, {}
    m = self.model
    scores = [beat_alignment(beats.music_beat_curve(w, m.sample_rate, cand.shape[-1],
                                                    frame_rate=m.frame_rate)[1], video_beats)
              for w in m.decode(cand)]
    i = int(np.argmax(scores))
    return i, dict(beat_alignment=float(scores[i]), candidates=[float(s) for s in scores])

  def __call__(self, path, out_dir, **kw) -> Result:
    """`generate`, then OUT/NAME.wav and OUT/NAME_music.mp4 (the video with the music), as
    `vmas generate` writes for VMAS runs."""
    out_dir = Path(out_dir)
    stem = Path(path).stem
    result = self.generate(path, **kw)
    result.wav_path = write_wav(out_dir / f"{stem}.wav", result.wav, result.sample_rate)
    result.video_path = mux_music(path, result.wav_path, result.sample_rate,
                                  out_dir / f"{stem}_music.mp4")
    return result


def fade_out(wav: np.ndarray, sample_rate: int, seconds: float) -> np.ndarray:
  """wav [T] with its last `seconds` (at most half of it) faded to silence (half cosine)."""
  n = min(int(round(seconds * sample_rate)), len(wav) // 2)
  out = np.asarray(wav, np.float32).copy()
  if n > 0:
    out[-n:] *= (0.5 + 0.5 * np.cos(np.pi * (np.arange(1, n + 1) / n))).astype(np.float32)
  return out
