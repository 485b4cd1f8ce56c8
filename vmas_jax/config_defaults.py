"""The default configuration tree shared by every file in `vmas_jax/configs/`.

`vmas_jax/configs/<name>.py` call `base_config(size)` and override what differs.  Every
modelling choice that the paper leaves open is a field here; docs/ARCHITECTURE.md says which
code reads each section.
"""

from __future__ import annotations

import ml_collections

from vmas_jax.models.codec import BUNDLED_CODEC
from vmas_jax.sharding import DEFAULT_RULES

# MusicGen decoder sizes; `tiny` runs on a laptop CPU in seconds.
DECODER_SIZES = {
    "tiny": dict(num_layers=2, d_model=64, num_heads=4, ffn_dim=128),
    "small": dict(num_layers=24, d_model=1024, num_heads=16, ffn_dim=4096),
    "medium": dict(num_layers=48, d_model=1536, num_heads=24, ffn_dim=6144),
    "large": dict(num_layers=48, d_model=2048, num_heads=32, ffn_dim=8192),
}


def base_config(size: str = "tiny") -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.name = size
  c.seed = 0
  # -- run length, checkpoints, logging
  c.total_steps = 1000
  c.checkpoint_every = 500
  c.keep_checkpoints = 3
  c.log_every = 10
  # validation on the held-out split every eval_every steps (0: off); eval_batches caps the
  # batches per validation (0: the whole split)
  c.eval_every = 500
  c.eval_batches = 0
  c.eval_split = "validation"
  c.nan_policy = "stop"  # "stop": raise naming the step; "skip": drop that update
  c.tensorboard = True  # scalars under WORKDIR/tensorboard
  # -- mesh and sharding: axes (data, fsdp, tensor); -1 takes the remaining devices
  c.mesh_shape = (-1, 1, 1)
  c.logical_axis_rules = [tuple(r) for r in DEFAULT_RULES]

  # -- audio codec (EnCodec 32 kHz).  hf_path: HF dir / hub id; None -> random init of `arch`.
  c.codec = ml_collections.ConfigDict(dict(
      hf_path="facebook/encodec_32khz", arch="encodec_32khz", sample_rate=32000,
      frame_rate=50, num_codebooks=4, codebook_size=2048,
      dtype="float32", init_seed=0))  # dtype: compute dtype; init_seed: random-init seed

  # -- music decoder (MusicGen-compatible)
  c.decoder = ml_collections.ConfigDict(dict(
      **DECODER_SIZES[size], max_positions=2048,
      dropout=0.0, activation="gelu", layer_norm_eps=1e-5,
      dtype="bfloat16", param_dtype="float32",
      scan_layers=True, remat_policy="none",  # vmas_jax.remat.POLICIES
      attention_impl="auto",  # einsum | xla | cudnn | auto (cudnn on GPU in bf16, else xla)
      cond_dropout=0.1, hf_path=""))
  # The decoder reads the codec's tokens: one value each, shared by reference (setting either
  # field sets both).
  c.decoder.num_codebooks = c.codec.get_ref("num_codebooks")
  c.decoder.vocab_size = c.codec.get_ref("codebook_size")

  # -- video side: frame backbone + temporal encoder (factorised self-attention)
  c.video = ml_collections.ConfigDict(dict(
      backbone="hiera",  # hiera | clip_vit | tiny_vit
      backbone_path="facebook/hiera-base-224-hf", image_size=224, video_fps=8.0,
      motion_fps=24.0,  # the beat curve's motion part: low-res grey frames at this rate
      freeze_backbone=True, use_features=False,  # use_features: pre-extracted in the dataset
      # standardize_features (with use_features): each feature standardised by the training
      # data's statistics, measured by the training loop at its start (train/feature_stats.py)
      standardize_features=False,
      chunk_size=16, tokens_per_frame=5,  # CLS + 2x2 pooled patch grid
      temporal_layers=4, temporal_dim=512, temporal_heads=8, temporal_mlp=2048,
      time_scale=8.0, temporal_dropout=0.0,  # time positions: sinusoid of seconds * time_scale
      dtype="bfloat16", attention_impl="auto"))

  # -- text prompts beside the video (vmas_jax.models.text_video), off by default.
  # hf_path: a full `musicgen` or a T5 directory / hub id (its T5 config, weights and
  # tokenizer); empty: a random T5 of the sizes below and `tokenizer` ("byt5": bytes, no
  # files; or a tokenizer directory).  max_tokens: captions are padded / truncated to it.
  # cond_dropout: probability of dropping the text in training (decoder.cond_dropout drops
  # the video, independently).
  c.text = ml_collections.ConfigDict(dict(
      enabled=False, hf_path="", tokenizer="byt5", max_tokens=16, cond_dropout=0.1,
      vocab_size=384, d_model=64, d_kv=16, d_ff=128, num_layers=2, num_heads=4,
      feed_forward_proj="relu", dtype="float32"))

  # -- the VMAS heads and objective weights
  # contrastive_music: how training embeds the music for the contrastive loss -- "conditioned"
  # (the teacher-forced pass that also sees the video) or "null_memory" (a second decoder
  # pass with the null memory and no beat curve: the music alone, as retrieval embeds it)
  # beat_lookahead: decoder position f reads the video beat curve at frames f..f+lookahead
  # (a flash shows on the video frame after its beat: without it the decoder sees a beat only
  # after the note should have started, and times notes from the music's past instead)
  # frame_conditioning: position f also reads (linearly) the video tokens of the first frame at
  # or after its time + lookahead, a time-aligned view of the picture beside cross-attention
  # contrastive_rhythm: both contrastive embeddings also read the Fourier coefficients at
  # rhythm_hz (min Hz, max Hz, bins) of their accent curve (video beat curve / beat head), so
  # tempo and beat phase count in retrieval, not only what is shown and played
  c.model = ml_collections.ConfigDict(dict(
      contrastive_dim=512, temperature_init=0.07, beat_conditioning=True,
      contrastive_music="conditioned", beat_lookahead=4, frame_conditioning=False,
      contrastive_rhythm=False, rhythm_hz=(0.5, 5.0, 37)))
  # chunked_logits: the AR loss makes one codebook's logits at a time (never all [B,K,S,V])
  c.loss = ml_collections.ConfigDict(dict(contrastive_weight=0.1, beat_weight=0.1,
                                          chunked_logits=True))
  # -- fine-tuning (vmas_jax.train.finetune): trainable is a comma list of all |
  # decoder | video_encoder | cross_attention | layer_norms | heads | lora; lora_rank > 0 adds
  # LoRA on the decoder's lora_targets (self_attn, encoder_attn, mlp)
  c.finetune = ml_collections.ConfigDict(dict(
      trainable="all", lora_rank=0, lora_alpha=16.0, lora_targets="self_attn,encoder_attn,mlp"))

  # -- optimiser (AdamW, warmup + cosine)
  c.optim = ml_collections.ConfigDict(dict(
      learning_rate=1e-4, b1=0.9, b2=0.95, weight_decay=0.1, grad_clip=1.0,
      warmup_steps=100, min_lr_ratio=0.1, grad_accum_steps=1))

  # -- data
  c.data = ml_collections.ConfigDict(dict(
      dir="", synthetic_examples=0,  # >0: build a synthetic dataset on first use
      # synthetic training sets only (data.synthetic.make_synthetic_videos): beats moved by up
      # to this fraction of the period, the chance the colour/note changes at a beat, and a
      # grid in seconds every beat is rounded to (0.02: the codec frames; the held-out
      # videos of `vmas bench alignment` follow it too); continuous tempos (any bpm between
      # the training ones, not near the held-out ones) instead of four
      synthetic_beat_jitter=0.0, synthetic_colour_change=0.0, synthetic_beat_grid=0.0,
      synthetic_continuous_tempo=False,
      clip_seconds=10.0, global_batch_size=32, shuffle_seed=0, num_workers=0,
      prefetch_buffer=2, read_threads=2, frames_format="jpeg",  # jpeg | features
      # prepare: share of source videos held out (by path hash), JPEG quality, whether to
      # store each clip's waveform (for evaluation), and whether the video beat curve uses
      # frame-backbone embedding novelty as well as motion (runs the backbone at prepare)
      validation_fraction=0.1, jpeg_quality=90, store_waveform=False, beat_embeddings=True,
      # training input -- pipeline: Grain over the dataset | memory: synthetic in-memory
      # batches cycling over memory_examples clips (0: fresh clips forever; =
      # global_batch_size: one fixed batch)
      source="pipeline", memory_examples=0,
      # music-only training (data/music_only.py): "paired" (prepare skips files without a
      # picture), "mixed" (they become music-only clips beside the paired ones) or
      # "music_only" (every clip is music alone, and generation reads the null memory with
      # the video's beat curve).  A music-only clip is conditioned on its own onset curve,
      # each onset moved by up to curve_jitter_frames and dropped with curve_event_drop.
      mode="paired", curve_jitter_frames=2, curve_event_drop=0.2))

  # -- generation; window_seconds: the length of each window of a long video (VMAS runs: at
  # most the trained data.clip_seconds)
  c.sampling = ml_collections.ConfigDict(dict(
      top_k=250, top_p=0.0, temperature=1.0, guidance_scale=3.0,
      # text + video models: guidance weight of the text and of the video (sample.py)
      guidance_text=3.0, guidance_video=3.0,
      window_seconds=10.0, overlap_seconds=2.0, best_of=1))
  return c


def tiny_config() -> ml_collections.ConfigDict:
  """Every part shrunk so a laptop CPU trains it in seconds, with no downloads: the bundled
  trained codec (`vmas_jax/assets/codec`), a random tiny frame backbone and a synthetic
  dataset built on first use (`vmas_jax/configs/tiny.py`)."""
  c = base_config("tiny")
  c.total_steps = 50
  c.checkpoint_every = 25
  c.log_every = 5
  c.eval_every = 25
  c.codec.hf_path = str(BUNDLED_CODEC)
  c.codec.arch = "tiny"  # the random-init codec when hf_path is set to ""
  c.decoder.dtype = "float32"
  c.decoder.max_positions = 512
  c.video.update(dict(backbone="tiny_vit", backbone_path="", image_size=32, video_fps=4.0,
                      chunk_size=8, temporal_layers=1, temporal_dim=32, temporal_heads=2,
                      temporal_mlp=64, dtype="float32"))
  c.model.contrastive_dim = 32
  c.optim.update(dict(learning_rate=1e-3, warmup_steps=5))
  c.data.update(dict(synthetic_examples=16, clip_seconds=2.0, global_batch_size=4))
  return c
