"""The full VMAS model: temporal video encoder -> MusicGen-style decoder, plus alignment heads.

  video (frames | features) --TemporalVideoEncoder--> tokens [B, T*P, D]  (cross-attn memory)
                                                  \\-> global_embed [B, E] -> proj -> L2 norm
  video_beat [B, F] -> linear(frames f..f+lookahead) + bias -> added to decoder input position f
  tokens -> per-frame mean [B, T, D] -> the frame at/after position f's time -> linear -> added
        (frame conditioning, optional: a time-aligned view of the picture, e.g. its colour)
  codes [B, K, F] -> delay pattern -> teacher-forced decoder -> logits [B, K, S, V]
                                                           \\-> hidden [B, S, D]
        hidden -> masked mean -> proj -> L2 norm   (music embedding, contrastive)
        (contrastive_rhythm: + a projection of the rhythm descriptor of the video beat curve /
         of the beat head's onset curve, on each side before the norm: `models.rhythm`)
        hidden -> beat head -> logits [B, F]        (music beat prediction)

With a `text_conditioner` the memory holds the prompt's text tokens and the
video tokens side by side (`models.text_video`); batch then also has text_ids [B, L] and
text_mask [B, L], and condition dropout drops text and video independently.

Delay layout (see `delay_pattern`): tokens [B, K, F + K]; the decoder reads positions
0..F+K-2 and predicts positions 1..F+K-1.  Input position f is where codebook 0 of frame f is
predicted, so the beat curve's frame f is added there and the beat head reads it there.
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from vmas_jax.layers import Dense
from vmas_jax.models import delay_pattern, rhythm, text_video
from vmas_jax.models.music_decoder import DecoderConfig, MusicDecoder
from vmas_jax.models.outputs import VMASOutput


def _l2_normalize(x, eps: float = 1e-12):
  """x / max(||x||, eps) over the last axis, in fp32."""
  x = x.astype(jnp.float32)
  return x * jax.lax.rsqrt(jnp.maximum(jnp.sum(x * x, axis=-1, keepdims=True), eps * eps))


def null_memory_rows(drop, has_video):
  """Rows [B] bool (None: none) whose decoder reads the null memory instead of the video:
  rows whose condition is dropped (`drop` [B] or None; they lose their beat offsets too)
  and music-only rows (`has_video` [B] False), which keep their beat curve (the clip's own
  onset curve, `vmas_jax.data.music_only`)."""
  if has_video is None:
    return drop
  no_video = ~has_video.astype(bool)
  return no_video if drop is None else drop | no_video


def _add(a, b):
  """a + b where either may be None (absent)."""
  return b if a is None else a if b is None else a + b


class VMAS(nn.Module):
  """`__call__(batch, *, deterministic) -> VMASOutput` for `vmas_jax.losses.vmas_loss`.

  batch: the training batch (`vmas_jax.data.batch_spec`; music_beat is the loss's, not read
  here); has_video False rows are music-only clips (see `null_memory_rows`).
  Uses the "cond" RNG for condition dropout when not deterministic.
  """
  decoder_config: DecoderConfig
  video_encoder: nn.Module  # vmas_jax.models.video_encoder.TemporalVideoEncoder
  contrastive_dim: int = 512
  temperature_init: float = 0.07
  min_temperature: float = 0.01
  beat_conditioning: bool = True
  # input position f reads the beat curve at frames f..f+beat_lookahead: a flash is seen on
  # the video frame at or after its beat, up to a frame (42 ms at 24 fps) later, so without
  # lookahead a causal decoder learns of a beat only after the note should have started
  beat_lookahead: int = 0
  # frame conditioning: input position f also gets (through a zero-initialised linear map)
  # the video tokens of the first frame at or after f's time plus the beat lookahead, so
  # what the picture shows at a beat reaches the decoder where the note starts; without it
  # only cross-attention carries that, and a small decoder learns to read it slowly
  frame_conditioning: bool = False
  frame_rate: float = 50.0  # codec frames per second: decoder position f is at f / frame_rate
  cond_dropout: float = 0.1
  # the music embedding of the contrastive loss: "conditioned" = the teacher-forced hidden
  # states of the pass that sees the video; "null_memory" = a second pass over the same tokens
  # with the null memory and no beat curve, the music alone as `embed_music` (retrieval) sees
  # it.  The first can be satisfied by copying the video through cross-attention, which
  # retrieval never sees; the second costs a decoder forward/backward more.
  contrastive_music: str = "conditioned"
  # rhythm in the contrastive embeddings: each side adds a (zero-initialised) projection of
  # the Fourier coefficients at `rhythm_hz` (min, max, bins) of its accent curve, the video
  # beat curve or the beat head's onset prediction (not trained through: the beat loss
  # trains that head), so clips that show the same thing at different tempos or phases
  # embed apart (`models.rhythm`)
  contrastive_rhythm: bool = False
  rhythm_hz: tuple = (0.5, 5.0, 37)
  # outputs hidden + lm_heads instead of logits: the loss makes them one codebook at a time
  chunked_logits: bool = False
  # False for a run trained on music alone (data.mode="music_only"): every row reads the null
  # memory, in training and generation, and only the beat curve carries the video
  video_memory: bool = True
  # text + video memory: a `text_video.TextConditioner` (its decoder needs `video_gate`) and
  # the probability of dropping the text in training (cond_dropout drops the video)
  text_conditioner: nn.Module | None = None
  text_dropout: float = 0.0

  def setup(self):
    if self.contrastive_music not in ("conditioned", "null_memory"):
      raise ValueError(f"model.contrastive_music must be 'conditioned' or 'null_memory', "
                       f"got {self.contrastive_music!r}")
    d = self.decoder_config.d_model
    self.decoder = MusicDecoder(self.decoder_config)
    # Zero-initialised, so a pretrained decoder starts out unperturbed by beat conditioning.
    self.beat_embed = Dense(d, ("norm",), ("embed",), kernel_init=nn.initializers.zeros_init(),
                            name="beat_embed")
    if self.frame_conditioning:
      self.frame_embed = Dense(d, ("norm",), ("embed",),
                               kernel_init=nn.initializers.zeros_init(), name="frame_embed")
    self.music_proj = Dense(self.contrastive_dim, ("embed",), ("mlp",), name="music_proj")
    self.video_proj = Dense(self.contrastive_dim, ("embed",), ("mlp",), name="video_proj")
    if self.contrastive_rhythm:
      zeros = nn.initializers.zeros_init()
      self.video_rhythm = Dense(self.contrastive_dim, ("norm",), ("mlp",), use_bias=False,
                                kernel_init=zeros, name="video_rhythm")
      self.music_rhythm = Dense(self.contrastive_dim, ("norm",), ("mlp",), use_bias=False,
                                kernel_init=zeros, name="music_rhythm")
    self.beat_head = Dense(1, ("embed",), ("norm",), name="beat_head")
    self.log_temperature = self.param(
        "log_temperature",
        nn.with_logical_partitioning(nn.initializers.constant(math.log(self.temperature_init)),
                                     ()), ())
    if self.text_conditioner is not None:
      if not self.decoder_config.video_gate:
        raise ValueError("a text + video memory needs a decoder with video_gate=True")
      self.type_embed = self.param("type_embed", nn.with_logical_partitioning(
          nn.initializers.zeros_init(), (None, "embed")), (2, d))

  def _video_input(self, batch):
    return batch["features"] if "features" in batch else batch["frames"]

  def beat_offsets(self, video_beat, length: int):
    """video_beat [B, F] -> input offsets [B, length, D]: position p reads the curve at
    frames p..p+beat_lookahead (zeros past frame F-1)."""
    b, f = video_beat.shape
    n = self.beat_lookahead + 1
    curve = jnp.zeros((b, length + n - 1), jnp.float32).at[:, :min(f, length + n - 1)].set(
        video_beat[:, :length + n - 1].astype(jnp.float32))
    windows = jnp.stack([curve[:, i:i + length] for i in range(n)], axis=-1)  # [B, length, n]
    return self.beat_embed(windows)

  def frame_offsets(self, tokens, frame_times, frame_mask, length: int):
    """Video tokens [B, T*P, D] (frame-major), frame_times / frame_mask [B, T] -> input
    offsets [B, length, D]: position p reads the mean token of the first valid frame at or
    after (p + beat_lookahead) / frame_rate seconds (the last valid frame past the end)."""
    b, t = frame_times.shape
    per_frame = tokens.reshape(b, t, -1, tokens.shape[-1]).astype(jnp.float32).mean(2)
    at = (jnp.arange(length) + self.beat_lookahead) / self.frame_rate  # [length] seconds
    # valid frames come first (padding at the end): the index of the first one not before `at`
    valid = frame_mask.astype(bool)
    before = (frame_times[:, None, :] < at[None, :, None] - 1e-6) & valid[:, None, :]
    last = jnp.maximum(valid.sum(-1, keepdims=True) - 1, 0)  # [B, 1]
    index = jnp.minimum(before.sum(-1), last)  # [B, length]
    picked = jnp.take_along_axis(per_frame, index[..., None], axis=1)  # [B, length, D]
    return self.frame_embed(picked)

  def _conditioning(self, video, frame_times, frame_mask, video_beat, length, deterministic):
    """(video encoder outputs, beat offsets | None, frame offsets | None), both offsets
    [B, length, D]; length defaults to F + K (every delayed position)."""
    out = self.video_encoder(video, frame_times, frame_mask, deterministic=deterministic)
    if length is None and video_beat is not None:
      length = video_beat.shape[1] + self.decoder_config.num_codebooks
    beat = frame = None
    if self.beat_conditioning and video_beat is not None:
      beat = self.beat_offsets(video_beat, length)
    if self.frame_conditioning and self.video_memory:
      if length is None:
        raise ValueError("frame conditioning needs the music length (or the video beat curve)")
      frame = self.frame_offsets(out["tokens"], frame_times, frame_mask, length)
    return out, beat, frame

  def encode_video(self, video, frame_times, frame_mask, video_beat=None, length=None, *,
                   deterministic: bool = True, text_ids=None, text_mask=None):
    """Conditioning for generation.

    video: frames [B,T,H,W,3] uint8 or features [B,T,P,Df]; video_beat [B, F].
    Returns dict(memory [B, M, D], memory_mask [B, M], offsets [B, length, D] | None (the
    sum of beat_offsets and frame_offsets, each None when off), video_embed [B, C]
    (normalised)); length defaults to F + K (every delayed position).  A text model needs
    text_ids / text_mask [B, L]: memory is then text and video side by side and the dict
    has video_mask [B, M] too.
    """
    out, beat, frame = self._conditioning(video, frame_times, frame_mask, video_beat, length,
                                          deterministic)
    offsets = _add(beat, frame)
    memory, memory_mask = out["tokens"], out["token_mask"]
    if not self.video_memory:  # the null memory as a one-token memory, as training read it
      b, d = memory.shape[0], self.decoder_config.d_model
      memory = jnp.broadcast_to(self.decoder.null_memory.astype(memory.dtype), (b, 1, d))
      memory_mask = jnp.ones((b, 1), bool)
    video_embed = self.video_proj(out["global_embed"])
    if self.contrastive_rhythm and video_beat is not None:
      video_embed = video_embed + self.video_rhythm(self._rhythm(video_beat))
    cond = dict(memory=memory, memory_mask=memory_mask, offsets=offsets, beat_offsets=beat,
                frame_offsets=frame, video_embed=_l2_normalize(video_embed))
    return cond if self.text_conditioner is None else self._add_text(cond, text_ids, text_mask)

  def _add_text(self, cond, text_ids, text_mask):
    """The video conditioning with the prompt's tokens joined into its memory."""
    if text_ids is None:
      raise ValueError("this model conditions on text: pass text_ids and text_mask")
    text, tmask = self.text_conditioner(text_ids, text_mask)
    memory, mask, video_mask = text_video.join_memory(text, tmask, cond["memory"],
                                                      cond["memory_mask"], self.type_embed)
    return dict(cond, memory=memory, memory_mask=mask, video_mask=video_mask)

  def _text_video_drops(self, memory_mask, video_mask, drop_condition, drop_video,
                        deterministic):
    """Token drops [B, M] of a text + video memory: the text of rows without a text token
    (blank captions); drop_condition [B] drops both groups; else in training the text with
    `text_dropout`; the video as `drop_video` [B] says (it includes drop_condition and the
    rows without a video)."""
    drop_text = text_video.text_absent(memory_mask, video_mask)
    if drop_condition is not None:
      drop_text = drop_text | drop_condition
    elif not deterministic and self.text_dropout > 0:
      drop_text = drop_text | jax.random.bernoulli(self.make_rng("cond"), self.text_dropout,
                                                   video_mask.shape[:1])
    return text_video.drop_tokens(drop_text, drop_video, video_mask)

  def _rhythm(self, curve):
    """Accent curve [B, F] at the codec frame rate -> rhythm descriptor [B, 2 * bins]."""
    return rhythm.rhythm_descriptor(curve, self.frame_rate, rhythm.frequencies(*self.rhythm_hz))

  def _music_embedding(self, hidden, k: int, f: int):
    """hidden [B, S, D] -> normalised music embedding [B, C] (mean over scored positions;
    with contrastive_rhythm, plus the rhythm of the beat head's onset curve over frames 0..F-1)."""
    target_mask = jnp.asarray(delay_pattern.valid_mask(k, f + k)[:, 1:])  # [K, S]
    pos_mask = target_mask.any(0).astype(jnp.float32)  # [S]: positions with any scored slot
    pooled = (hidden.astype(jnp.float32) * pos_mask[None, :, None]).sum(1) / pos_mask.sum()
    embed = self.music_proj(pooled)
    if self.contrastive_rhythm:
      onsets = jax.nn.sigmoid(self.beat_head(hidden)[..., 0][:, :f].astype(jnp.float32))
      embed = embed + self.music_rhythm(self._rhythm(jax.lax.stop_gradient(onsets)))
    return _l2_normalize(embed)

  def embed_music(self, codes):
    """codes [B, K, F] -> music embedding [B, C] heard without its video (null memory, no
    beat offsets): what video -> music retrieval ranks."""
    b, k, f = codes.shape
    tokens = delay_pattern.build(codes, self.decoder_config.vocab_size)[:, :, :-1]
    return self._embed_music_tokens(tokens, k, f)

  def _embed_music_tokens(self, inputs, k: int, f: int, deterministic: bool = True):
    """Delay-pattern decoder inputs [B, K, F + K - 1] -> the music-alone embedding [B, C]."""
    b = inputs.shape[0]
    memory = jnp.zeros((b, 1, self.decoder_config.d_model), jnp.float32)
    hidden = self.decoder(inputs, memory, drop_condition=jnp.ones((b,), bool),
                          deterministic=deterministic, compute_logits=False)
    return self._music_embedding(hidden, k, f)

  def __call__(self, batch, *, deterministic: bool = True, drop_condition=None):
    """drop_condition [B] bool: rows to run without their video (null memory, no beat
    offsets), e.g. all True to embed music on its own; None = condition dropout in training."""
    codes = batch["codes"]
    b, k, f = codes.shape
    cfg = self.decoder_config
    tokens = delay_pattern.build(codes, cfg.vocab_size)  # [B, K, F + K]
    inputs, targets = tokens[:, :, :-1], tokens[:, :, 1:]
    target_mask = jnp.asarray(delay_pattern.valid_mask(k, f + k)[:, 1:])  # [K, S]
    s = f + k - 1

    cond = self.encode_video(self._video_input(batch), batch["frame_times"], batch["frame_mask"],
                             batch.get("video_beat"), s, deterministic=deterministic,
                             text_ids=batch.get("text_ids"), text_mask=batch.get("text_mask"))
    drop = drop_condition
    if drop is None and not deterministic and self.cond_dropout > 0:
      drop = jax.random.bernoulli(self.make_rng("cond"), self.cond_dropout, (b,))
    null = null_memory_rows(drop, batch.get("has_video"))  # rows without their video
    frame = cond["frame_offsets"]
    if frame is not None and null is not None:  # music-only rows keep their beat curve only
      frame = jnp.where(null[:, None, None], 0.0, frame)
    offsets = _add(cond["beat_offsets"], frame)
    if offsets is not None and drop is not None:
      offsets = jnp.where(drop[:, None, None], 0.0, offsets)  # unconditional rows: no beats
    video_mask = cond.get("video_mask")
    if video_mask is not None:  # text + video: the text is dropped on its own
      null = self._text_video_drops(cond["memory_mask"], video_mask, drop_condition, null,
                                    deterministic)
    hidden = self.decoder(inputs, cond["memory"], cond["memory_mask"], input_offsets=offsets,
                          drop_condition=null, deterministic=deterministic, compute_logits=False,
                          video_mask=video_mask)
    if self.chunked_logits:
      ar = dict(hidden=hidden, lm_heads=self.decoder.head_weights())
    else:
      ar = dict(logits=self.decoder.project_heads(hidden))

    beat_logits = self.beat_head(hidden)[..., 0][:, :f].astype(jnp.float32)
    log_t = jnp.maximum(self.log_temperature, math.log(self.min_temperature))
    if self.contrastive_music == "null_memory":
      music_embed = self._embed_music_tokens(inputs, k, f, deterministic)
    else:
      music_embed = self._music_embedding(hidden, k, f)
    return VMASOutput(**ar, targets=targets, target_mask=target_mask,
                      music_embed=music_embed,
                      video_embed=cond["video_embed"], log_temperature=log_t,
                      beat_logits=beat_logits)
