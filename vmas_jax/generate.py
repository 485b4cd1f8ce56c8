"""Video in, music out.

  pipe = MusicVideoPipeline.from_pretrained()   # the bundled demo model (or an exported dir)
  pipe = MusicVideoPipeline.from_workdir("/tmp/vmas_tiny")   # or a training run
  result = pipe("clip.mp4", "out/")       # out/clip.wav and out/clip_music.mp4

Long videos are cut into windows of `sampling.window_seconds` (at most the trained clip
length); each window after the first
continues from the last `overlap_seconds` of codes generated for the one before, conditioned
on its own frames and beat curve.  Best-of-N samples N candidates per window in one batch and
keeps the one with the best beat alignment + video-music similarity.

Memory stays flat with the video's length: each window decodes only its own frames, its new
codes are turned into audio piece by piece (`ChunkedDecoder`), and `pipe(path, out)` writes
that audio to the WAV as it comes and muxes the music video from the WAV file, so an hour of
video never sits in memory as frames or as waveform.  A progress bar advances per window.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from vmas_jax import beats
from vmas_jax.codec_stream import ChunkedDecoder
from vmas_jax.conditioning import clip_conditioning
from vmas_jax.data import clips
from vmas_jax.data.audio_io import wav_writer
from vmas_jax.data.errors import MediaError
from vmas_jax.data.mux import mux_music
from vmas_jax.data.video_io import probe_video
from vmas_jax.eval.beat_metrics import beat_alignment
from vmas_jax.sample import Sampler


@dataclasses.dataclass
class Window:
  start: float                 # seconds in the video
  frames: int                  # codec frames this window adds to the output
  video_beat: np.ndarray       # float32 [frames]: the video beat curve of those frames
  video_beat_times: np.ndarray # seconds in the video
  score: dict


@dataclasses.dataclass
class Result:
  sample_rate: int
  codes: np.ndarray            # int32 [K, F]
  windows: list
  wav_path: Path | None = None
  video_path: Path | None = None
  samples: np.ndarray | None = None  # float32 [T]; None when streamed to `wav_path`

  @property
  def wav(self) -> np.ndarray:
    """float32 [T] at `sample_rate` (read back from `wav_path` when it was streamed there)."""
    if self.samples is None:
      from vmas_jax.data.audio_io import load_audio
      self.samples = load_audio(self.wav_path, self.sample_rate)
    return self.samples

  @property
  def video_beat(self) -> np.ndarray:
    """float32 [F]: the video beat curve the music was conditioned on, frame by frame."""
    return np.concatenate([w.video_beat for w in self.windows])


class MusicVideoPipeline:
  """A trained VMAS model + codec, ready to score videos."""

  def __init__(self, config, params, codec=None):
    from vmas_jax.build import build_model, make_codec
    from vmas_jax.models.codec import jitted_codec
    from vmas_jax.train.finetune import merged_params
    self.config = config
    self.model = build_model(config)
    # LoRA runs: adapters merged into the kernels (params None: conditioning only)
    self.params = None if params is None else merged_params(params, config)
    # the decoder's weights in the layout decoding runs, made once for every window and call
    self.sampler = None if params is None else Sampler(self.model.decoder_config,
                                                       self.params["decoder"])
    self.codec, self.codec_vars = codec if codec is not None else make_codec(config.codec)
    self._decode_audio = jitted_codec(self.codec.config, self.codec.dtype)[1]
    self.settings = clips.clip_settings(config)
    k = self.model.decoder_config.num_codebooks
    # text + video runs (config.text.enabled): prompts become text_ids / text_mask
    self.text = config.text if config.text.enabled else None
    if self.text is not None:
      from vmas_jax.build import text_tokenizer
      self.tokenizer = text_tokenizer(self.text)
    # One compilation per input shape for the video side and the reranking forward pass.
    self._encode_video = jax.jit(lambda p, v, t, m, c, text: self.model.apply(
        {"params": p}, v, t, m, c, c.shape[1] + k, method="encode_video", **text))
    self._embeddings = jax.jit(lambda p, batch: self.model.apply({"params": p}, batch))

  @classmethod
  def from_workdir(cls, workdir, step: int | None = None, config=None) -> "MusicVideoPipeline":
    """Load the latest (or `step`) checkpoint of a training run and its saved config."""
    from vmas_jax.train import load_checkpoint
    if config is None:
      config = load_run_config(workdir)
    state = load_checkpoint(workdir, step)
    return cls(config, state["params"])

  @classmethod
  def from_pretrained(cls, path=None) -> "MusicVideoPipeline":
    """An exported model folder (`vmas_jax.exported_model`); default: the bundled demo model."""
    from vmas_jax.exported_model import load_model
    return cls(*load_model(path))

  # -- conditioning -------------------------------------------------------------------------

  def _window_inputs(self, path, start: float, seconds: float):
    """Video input, times, mask and the video beat curve of one window (as in the data)."""
    c = clip_conditioning(path, start, seconds, self.settings)
    return c.video, c.times, c.mask, c.video_beat

  def text_inputs(self, prompt: str) -> dict:
    """{text_ids, text_mask [1, L]} of the prompt for a text + video run, else {}."""
    if self.text is None:
      return {}
    from vmas_jax.models.text.tokenizer import tokenize_fixed
    ids, mask = tokenize_fixed(self.tokenizer, [prompt], int(self.text.max_tokens))
    return {"text_ids": ids, "text_mask": mask}

  def _condition(self, video, times, mask, curve, text):
    return self._encode_video(self.params, video[None], times[None], mask[None], curve[None],
                              text)

  def _similarity(self, video, times, mask, curve, codes, text):
    """Cosine similarity of each candidate's music embedding with the video's: [N]."""
    n = codes.shape[0]
    tile = lambda x: jnp.broadcast_to(jnp.asarray(x)[None], (n,) + x.shape)
    key = "features" if self.settings["frames_format"] == "features" else "frames"
    batch = {"codes": jnp.asarray(codes), key: tile(video), "frame_times": tile(times),
             "frame_mask": tile(mask), "video_beat": tile(curve),
             **{k: tile(v[0]) for k, v in text.items()}}
    out = self._embeddings(self.params, batch)
    return np.asarray(jnp.sum(out.music_embed * out.video_embed, -1))

  # -- generation ---------------------------------------------------------------------------

  def generate(self, path, *, seconds: float | None = None, seed: int = 0,
               best_of: int | None = None, **sampling) -> Result:
    """Music for the video at `path` (its first `seconds`, default all of it), in memory.

    sampling: fields of `config.sampling`, and for a text + video run `prompt` (default "").
    """
    parts = []
    result = self._stream(path, parts.append, seconds=seconds, seed=seed, best_of=best_of,
                          **sampling)
    result.samples = np.concatenate(parts) if parts else np.zeros(0, np.float32)
    return result

  def _plan(self, path, seconds, window_seconds, overlap):
    """(start seconds, codec frames already generated) of each window, and the total frames."""
    fr = self.settings["frame_rate"]
    duration = probe_video(path).duration
    total = duration if seconds is None else min(seconds, duration)
    # at most the trained clip length: the model has seen no longer context
    window = min(float(window_seconds), float(self.config.data.clip_seconds), total)
    overlap = min(overlap, window / 2) if total > window else 0.0
    prompt_frames, window_frames = int(round(overlap * fr)), int(round(window * fr))
    total_frames = int(round(total * fr))
    if total_frames == 0:
      raise MediaError(path, "the video's duration is zero or unknown")
    plan, done = [], 0
    while done < total_frames:
      start = max(0.0, (done - prompt_frames) / fr) if done else 0.0
      # the last window is shifted back so that every window has the trained length
      start = min(start, max(0.0, total - window))
      plan.append((start, done))
      done = int(round(start * fr)) + window_frames
    return plan, window, total, total_frames

  def _stream(self, path, write, *, seconds: float | None = None, seed: int = 0,
              best_of: int | None = None, **sampling) -> Result:
    """Generates window by window, passing each piece of final audio to `write(samples [n])`
    as soon as it exists; returns the Result without samples."""
    from tqdm.auto import tqdm
    sc = dict(self.config.sampling.to_dict(), **sampling)
    best_of = int(best_of or sc["best_of"])
    text = self.text_inputs(str(sc.get("prompt") or ""))
    if text:  # text + video: each condition its own guidance weight (sample.py)
      guidance = dict(guidance_scale=float(sc["guidance_text"]),
                      guidance_video=float(sc["guidance_video"]))
    elif sc.get("prompt"):
      raise ValueError("this run was trained without text (config.text.enabled is off): "
                       "it takes no prompt")
    else:
      guidance = dict(guidance_scale=float(sc["guidance_scale"]))
    s = self.settings
    fr = s["frame_rate"]
    plan, window, total, total_frames = self._plan(path, seconds, sc["window_seconds"],
                                                   float(sc["overlap_seconds"]))
    decoder = self.model.decoder_config
    audio = ChunkedDecoder(self._decode_audio, self.codec_vars, s["sample_rate"] // fr)
    samples_left = int(round(total * s["sample_rate"]))

    def emit(wav):
      nonlocal samples_left
      wav = wav[:samples_left]
      samples_left -= wav.size
      if wav.size:
        write(wav)

    prev = np.zeros((decoder.num_codebooks, 0), np.int32)  # the last window's codes
    kept, windows = [], []
    rng = jax.random.key(seed)
    for start, done in tqdm(plan, desc=f"music for {Path(path).name}", unit="window",
                            leave=False):
      first = int(round(start * fr))
      video, times, mask, curve = self._window_inputs(path, start, window)
      cond = self._condition(video, times, mask, curve, text)
      n_frames = curve.shape[0]
      prompt = None
      if done:
        context = prev[:, prev.shape[1] - (done - first):]
        prompt = np.broadcast_to(context[None], (best_of,) + context.shape)
      tile = lambda x: None if x is None else jnp.repeat(x, best_of, axis=0)
      rng, key = jax.random.split(rng)
      cand = self.sampler.sample(
          tile(cond["memory"]), tile(cond["memory_mask"]), n_frames, key, top_k=int(sc["top_k"]), top_p=float(sc["top_p"]),
          temperature=float(sc["temperature"]), prompt_codes=prompt,
          input_offsets=tile(cond["offsets"]), video_mask=tile(cond.get("video_mask")),
          **guidance)
      cand = np.asarray(cand)
      pick, score = self._pick(cand, video, times, mask, curve, text)
      prev = cand[pick]
      new = prev[:, done - first:][:, :total_frames - done]
      kept.append(new)
      emit(audio.push(new))
      windows.append(Window(start=start, frames=new.shape[1],
                            video_beat=curve[done - first:][:new.shape[1]],
                            video_beat_times=beats.beat_times(curve, fr) + start, score=score))
    emit(audio.flush())
    return Result(sample_rate=s["sample_rate"], codes=np.concatenate(kept, axis=1),
                  windows=windows)

  def _pick(self, cand, video, times, mask, curve, text):
    """Index of the best of N candidates [N, K, F] and its scores."""
    if cand.shape[0] == 1:
      return 0, {}
    s = self.settings
    sims = self._similarity(video, times, mask, curve, cand, text)
    vbeats = beats.beat_times(curve, s["frame_rate"])
    wavs = np.asarray(self._decode_audio(self.codec_vars, jnp.asarray(cand)))
    bas = np.array([beat_alignment(beats.music_beat_curve(w, s["sample_rate"], cand.shape[-1],
                                                          frame_rate=s["frame_rate"])[1], vbeats)
                    for w in wavs])
    total = bas + sims
    i = int(np.argmax(total))
    return i, dict(beat_alignment=float(bas[i]), similarity=float(sims[i]),
                   candidates=[float(t) for t in total])

  def __call__(self, path, out_dir, **kw) -> Result:
    """Generate, streaming the music to OUT/NAME.wav, then write OUT/NAME_music.mp4 (the
    video with the music); memory does not grow with the video's length."""
    out_dir = Path(out_dir)
    stem = Path(path).stem
    wav_path = out_dir / f"{stem}.wav"
    with wav_writer(wav_path, self.settings["sample_rate"]) as write:
      result = self._stream(path, write, **kw)
    result.wav_path = wav_path
    result.video_path = mux_music(path, wav_path, result.sample_rate,
                                  out_dir / f"{stem}_music.mp4")
    return result


def load_run_config(workdir):
  """The config a training run saved as WORKDIR/config.json (fields added since: defaults)."""
  from etils import epath

  from vmas_jax.config_utils import with_defaults
  path = epath.Path(workdir) / "config.json"
  if not path.exists():
    raise FileNotFoundError(f"{path}: missing; pass the training config explicitly")
  return with_defaults(json.loads(path.read_text()))
