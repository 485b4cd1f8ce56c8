"""From a config to modules, and the one step that puts pretrained weights into params.

  model = build_model(config)                             # pure Flax modules; reads no weights
  state, shardings = train.state.init_train_state(model, ...)   # random init, sharded
  params = load_pretrained(state["params"], config, shardings["params"])
  codec, codec_variables = make_codec(config.codec)

This is the layer above `vmas_jax.models` (pure modules, which never import `convert`) and
`vmas_jax.convert` (checkpoint formats).  A restored training checkpoint replaces whatever
`load_pretrained` put in.
"""

from __future__ import annotations

import jax.numpy as jnp
import ml_collections

from vmas_jax.convert import from_hf
from vmas_jax.convert.hf_io import load_hf_config, resolve_hf_dir
from vmas_jax.convert.registry import importer
from vmas_jax.models.codec import PRESETS, EncodecModel
from vmas_jax.models.codec_init import init_codec
from vmas_jax.models.frame_features import BACKBONES
from vmas_jax.models.music_decoder import DecoderConfig
from vmas_jax.models.text.t5 import T5Config
from vmas_jax.models.text.tokenizer import load_tokenizer
from vmas_jax.models.text_video import TextConditioner
from vmas_jax.models.video_encoder import TemporalVideoEncoder
from vmas_jax.models.vision import CLIPVision, Hiera, tiny_vit
from vmas_jax.models.vmas import VMAS
from vmas_jax.pretrained import load_pretrained  # noqa: F401  (part of this layer's surface)


def frame_backbone(video_cfg, load_weights: bool = False):
  """The frame backbone of a `config.video` section -> (module, variables | None).

  With `backbone_path` (HF directory or hub id) the module is built from its config.json and,
  if `load_weights`, its weights are imported; otherwise the named architecture
  (`hiera` = hiera-base-224, `clip_vit` = CLIP ViT-B/16, `tiny_vit`) with variables None.
  """
  dtype = jnp.dtype(video_cfg.dtype)
  name = video_cfg.backbone
  if name not in BACKBONES:
    raise ValueError(f"config.video.backbone {name!r} is not one of {BACKBONES}")
  path = video_cfg.backbone_path
  if path:
    if load_weights:
      return from_hf(path, dtype=dtype)
    directory = resolve_hf_dir(path)
    config = load_hf_config(directory)
    where = f"{directory}/config.json"
    return importer(config.get("model_type"), where).module_from_hf_config(config,
                                                                          dtype=dtype), None
  size = int(video_cfg.image_size)
  if name == "hiera":
    return Hiera(image_size=(size, size), dtype=dtype), None
  if name == "clip_vit":
    return CLIPVision(image_size=size, patch_size=16, dtype=dtype), None
  return tiny_vit(image_size=size, dtype=dtype), None


def video_encoder(video_cfg, out_dim: int, embed_dim: int) -> TemporalVideoEncoder:
  """`config.video` -> the temporal video encoder (its backbone weights: `load_pretrained`)."""
  use_features = bool(video_cfg.use_features)
  if video_cfg.get("standardize_features", False) and not use_features:
    raise ValueError("video.standardize_features needs video.use_features=True: the "
                     "statistics are measured on the dataset's pre-extracted features")
  backbone, _ = frame_backbone(video_cfg)
  return TemporalVideoEncoder(
      frame_backbone=None if use_features else backbone,
      feature_dim=backbone.feature_dim, out_dim=out_dim, embed_dim=embed_dim,
      tokens_per_frame=video_cfg.tokens_per_frame, chunk_size=video_cfg.chunk_size,
      freeze_backbone=video_cfg.freeze_backbone, use_features=use_features,
      standardize_features=bool(video_cfg.get("standardize_features", False)),
      num_layers=video_cfg.temporal_layers, dim=video_cfg.temporal_dim,
      num_heads=video_cfg.temporal_heads, mlp_dim=video_cfg.temporal_mlp,
      time_scale=video_cfg.time_scale, dropout=video_cfg.temporal_dropout,
      dtype=jnp.dtype(video_cfg.dtype),
      attention_impl=video_cfg.attention_impl)


def text_config(text_cfg) -> T5Config:
  """`config.text` -> the T5 encoder's config (from `hf_path`'s config.json when set)."""
  if text_cfg.hf_path:
    return T5Config.from_hf_config(load_hf_config(resolve_hf_dir(text_cfg.hf_path)),
                                   dtype=text_cfg.dtype)
  return T5Config(**{f: text_cfg[f] for f in (
      "vocab_size", "d_model", "d_kv", "d_ff", "num_layers", "num_heads", "feed_forward_proj",
      "dtype")})


def build_model(config) -> VMAS:
  """The VMAS module of a whole config tree (random-init shapes; weights: `load_pretrained`)."""
  text = config.text
  with_text = bool(text.enabled)
  dec = DecoderConfig.from_config(config.decoder, video_gate=with_text)
  return VMAS(decoder_config=dec,
              text_conditioner=TextConditioner(text_config(text), dec.d_model) if with_text
              else None,
              text_dropout=float(text.cond_dropout) if with_text else 0.0,
              video_encoder=video_encoder(config.video, out_dim=dec.d_model,
                                          embed_dim=config.model.contrastive_dim),
              contrastive_dim=config.model.contrastive_dim,
              temperature_init=config.model.temperature_init,
              beat_conditioning=config.model.beat_conditioning,
              beat_lookahead=int(config.model.get("beat_lookahead", 0)),
              frame_conditioning=bool(config.model.get("frame_conditioning", False)),
              frame_rate=float(config.codec.frame_rate),
              contrastive_music=config.model.get("contrastive_music", "conditioned"),
              contrastive_rhythm=bool(config.model.get("contrastive_rhythm", False)),
              rhythm_hz=tuple(config.model.get("rhythm_hz", (0.5, 5.0, 37))),
              cond_dropout=config.decoder.cond_dropout,
              chunked_logits=config.loss.chunked_logits,
              video_memory=config.data.mode != "music_only")


def _complete_codec_section(codec_cfg) -> ml_collections.ConfigDict:
  from vmas_jax.config_defaults import base_config
  full = base_config("tiny").codec
  full.update(dict(codec_cfg))
  return full


def make_codec(codec_cfg) -> tuple[EncodecModel, dict]:
  """The codec of a run: `config.codec` (fields hf_path, arch, dtype, sample_rate, ...).

  `hf_path` set -> imported from that HF directory / hub id; empty -> random init of the
  `arch` preset ("tiny" | "encodec_32khz") with `init_seed`.  Checks that the model's sample
  rate, frame rate and codebooks agree with the config.  Fields missing from `codec_cfg` (a
  section built by hand, e.g. `{"hf_path": DIR}`) take the defaults of `config_defaults`.
  """
  codec_cfg = _complete_codec_section(codec_cfg)
  dtype = jnp.dtype(codec_cfg.dtype)
  hf_path = codec_cfg.hf_path
  if hf_path:
    module, variables = from_hf(hf_path)
    if not isinstance(module, EncodecModel):
      raise ValueError(f"codec.hf_path={hf_path!r} is a {type(module).__name__}, not EnCodec")
    module = module.clone(dtype=dtype)
  else:
    arch = codec_cfg.arch
    if arch not in PRESETS:
      raise ValueError(f"codec.arch={arch!r}: expected one of {sorted(PRESETS)}")
    module, variables = init_codec(PRESETS[arch](), seed=codec_cfg.init_seed,
                                   dtype=dtype)
  cfg = module.config
  expected = dict(sample_rate=cfg.sample_rate, frame_rate=cfg.frame_rate,
                  num_codebooks=cfg.num_codebooks, codebook_size=cfg.codebook_size)
  for key, value in expected.items():
    if key in codec_cfg and codec_cfg[key] is not None and codec_cfg[key] != value:
      raise ValueError(f"codec.{key}={codec_cfg[key]} but the codec model has {key}={value}")
  return module, variables


def text_tokenizer(text_cfg):
  """The tokenizer of a `config.text` section: "byt5" (UTF-8 bytes, no files), else the
  directory or hub id in `tokenizer` or, when that is empty, `hf_path`'s."""
  name = text_cfg.tokenizer
  if name == "byt5":
    from transformers.models.byt5.tokenization_byt5 import ByT5Tokenizer
    return ByT5Tokenizer()
  source = name or text_cfg.hf_path
  if not source:
    raise ValueError("config.text: set tokenizer (\"byt5\" or a directory) or hf_path")
  return load_tokenizer(resolve_hf_dir(source))
