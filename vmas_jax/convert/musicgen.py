"""MusicGen decoder weights: HF (`musicgen_decoder`, `musicgen`) and audiocraft -> MusicDecoder,
and MusicDecoder -> a HF `MusicgenForCausalLM` directory.

Memory convention: our `memory` has width d_model and enters the cross-attention K/V
projections directly.  For a full `MusicgenForConditionalGeneration` it corresponds to HF's
encoder hidden states *after* `enc_to_dec_proj` and the attention-mask multiply.  MusicGen's
unconditional (CFG) rows are zero states with a zero mask (HF, given an attention mask as its
processor returns one; audiocraft alike), i.e. a zero memory after the mask multiply, so an
imported decoder's null memory is zero.

A full `musicgen` directory: `import_hf` / `decoder_from_hf` here give its decoder alone;
`vmas_jax.convert.from_hf` gives the whole text-to-music model (`convert/musicgen_full.py`).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from vmas_jax.convert import hf_io
from vmas_jax.models.music_decoder import (DecoderConfig, MusicDecoder, stack_layers,
                                           unstack_layers)

_ATTN = ("q_proj", "k_proj", "v_proj", "out_proj")
_NORMS = ("self_attn_layer_norm", "encoder_attn_layer_norm", "final_layer_norm")


def module_from_hf_config(config: dict, **overrides) -> MusicDecoder:
  return MusicDecoder(DecoderConfig.from_hf_config(config, **overrides))


def _take(sd: dict, name: str, source) -> np.ndarray:
  try:
    return np.asarray(sd.pop(name), np.float32)
  except KeyError:
    raise ValueError(f"{source}: missing weight {name!r}") from None


def _nest(flat: dict) -> dict:
  """{("a", "b"): x} -> {"a": {"b": x}}."""
  out = {}
  for path, value in flat.items():
    node = out
    for key in path[:-1]:
      node = node.setdefault(key, {})
    node[path[-1]] = value
  return out


def tensor_plan(cfg: DecoderConfig, prefix: str = "") -> dict:
  """Our parameter path (per-layer layout, without null_memory) -> `build(get)`, which makes
  that parameter from the HF tensors it fetches by name with `get(name) -> np.ndarray`.

  One parameter needs at most K (embed, lm_heads) or one HF tensor at a time, so a loader can
  place parameters one by one without holding the whole state dict.  prefix: "decoder." for a
  full `musicgen` checkpoint.
  """
  h, dh, d = cfg.num_heads, cfg.head_dim, cfg.d_model
  dec = prefix + "model.decoder."
  ks = range(cfg.num_codebooks)
  plain = lambda name: lambda get: get(name)
  plan = {
      ("embed",): lambda get: np.stack([get(f"{dec}embed_tokens.{k}.weight") for k in ks]),
      ("lm_heads",): lambda get: np.stack([get(f"{prefix}lm_heads.{k}.weight").T for k in ks]),
      ("layer_norm", "scale"): plain(f"{dec}layer_norm.weight"),
      ("layer_norm", "bias"): plain(f"{dec}layer_norm.bias"),
  }
  # HF Linear weights are [out, in]; our kernels [in, out], heads split out.
  shapes = {"q_proj": (d, h, dh), "k_proj": (d, h, dh), "v_proj": (d, h, dh),
            "out_proj": (h, dh, d)}
  for i in range(cfg.num_layers):
    lp, ours = f"{dec}layers.{i}.", f"layers_{i}"
    for n in _NORMS:
      plan[(ours, n, "scale")] = plain(f"{lp}{n}.weight")
      plan[(ours, n, "bias")] = plain(f"{lp}{n}.bias")
    for a in ("self_attn", "encoder_attn"):
      for n, shape in shapes.items():
        plan[(ours, a, n, "kernel")] = (
            lambda get, name=f"{lp}{a}.{n}.weight", shape=shape: get(name).T.reshape(shape))
    for n in ("fc1", "fc2"):
      plan[(ours, "mlp", n, "kernel")] = lambda get, name=f"{lp}{n}.weight": get(name).T
  return plan


def _from_hf_names(sd: dict, cfg: DecoderConfig, prefix: str, source) -> dict:
  """Plain params (per-layer layout) from a HF MusicGen decoder state dict; consumes `sd`."""
  get = lambda name: _take(sd, name, source)
  params = _nest({path: build(get) for path, build in tensor_plan(cfg, prefix).items()})
  params["null_memory"] = np.zeros((cfg.d_model,), np.float32)
  return params


def _finish(params: dict, cfg: DecoderConfig):
  if cfg.scan_layers:
    params = stack_layers(params, cfg.num_layers)
  return MusicDecoder(cfg), {"params": params}


def import_hf(directory: Path, config: dict, *, trust_remote_pickle: bool = False,
              **overrides):
  """HF MusicgenForCausalLM dir, or the decoder of a MusicgenForConditionalGeneration dir."""
  directory = Path(directory)
  cfg = DecoderConfig.from_hf_config(config, **overrides)
  params = decoder_params(hf_io.load_state_dict(directory, trust_remote_pickle=trust_remote_pickle),
                          cfg, config, directory)
  if (directory / "null_memory.npy").is_file():  # written by export_hf
    params["null_memory"] = np.load(directory / "null_memory.npy").astype(np.float32)
  return _finish(params, cfg)


def decoder_from_hf(path_or_repo_id, **overrides):
  """(MusicDecoder, variables) from a `musicgen_decoder` or full `musicgen` dir / hub id."""
  directory = hf_io.resolve_hf_dir(path_or_repo_id)
  config = hf_io.load_hf_config(directory)
  if config.get("model_type") not in ("musicgen", "musicgen_decoder"):
    raise ValueError(f"{directory}/config.json: model_type {config.get('model_type')!r} is "
                     "not a MusicGen model")
  return import_hf(directory, config, **overrides)


def decoder_params(sd: dict, cfg: DecoderConfig, config: dict, source) -> dict:
  """Plain per-layer decoder params (null memory zero) from a HF state dict of a decoder
  (`config` of model_type musicgen_decoder) or a full model (musicgen); consumes `sd`."""
  prefix = "decoder." if config.get("model_type") == "musicgen" else ""
  return _from_hf_names(sd, cfg, prefix, source)


def params_from_hf_state_dict(sd: dict, cfg: DecoderConfig) -> dict:
  """In-memory HF MusicgenForCausalLM state dict ({name: array}) -> our variables."""
  sd = {k: np.asarray(v, np.float32) for k, v in sd.items()}
  return _finish(_from_hf_names(sd, cfg, "", "state dict"), cfg)[1]


def import_audiocraft(state_dict_or_path, config: DecoderConfig | dict, *,
                      trust_remote_pickle: bool = False):
  """An audiocraft `LMModel` state dict (or a .pt/.th/.bin/.safetensors file holding one) ->
  (module, variables).  audiocraft's `state_dict.bin` also pickles its training config: reading
  it needs `trust_remote_pickle=True` (only for files you trust) or a safetensors copy.

  Names: `emb.{k}.weight`, `transformer.layers.{i}.{self_attn,cross_attention}.in_proj_weight`
  (q, k, v stacked), `.out_proj.weight`, `norm1`, `norm_cross`, `norm2`, `linear1`, `linear2`,
  `out_norm`, `linears.{k}.weight`.  Conditioner weights are ignored.
  """
  if isinstance(config, dict):
    config = DecoderConfig(**config)
  source = state_dict_or_path if isinstance(state_dict_or_path, (str, Path)) else "state dict"
  if isinstance(state_dict_or_path, (str, Path)):
    sd = hf_io.load_weights_file(state_dict_or_path, trust_remote_pickle=trust_remote_pickle)
  else:
    sd = {k: (v.detach().cpu().float().numpy() if hasattr(v, "detach") else np.asarray(v))
          for k, v in state_dict_or_path.items()}
  return _finish(_from_hf_names(audiocraft_to_hf_names(sd, config, source), config, "", source),
                 config)


def audiocraft_to_hf_names(sd: dict, config: DecoderConfig, source) -> dict[str, np.ndarray]:
  """An audiocraft LM state dict -> the same tensors under HF MusicgenForCausalLM names."""
  d = config.d_model
  hf = {}
  for k in range(config.num_codebooks):
    hf[f"model.decoder.embed_tokens.{k}.weight"] = _take(sd, f"emb.{k}.weight", source)
    hf[f"lm_heads.{k}.weight"] = _take(sd, f"linears.{k}.weight", source)
  for n in ("weight", "bias"):
    hf[f"model.decoder.layer_norm.{n}"] = _take(sd, f"out_norm.{n}", source)
  rename = {"norm1": "self_attn_layer_norm", "norm_cross": "encoder_attn_layer_norm",
            "norm2": "final_layer_norm", "linear1": "fc1", "linear2": "fc2"}
  for i in range(config.num_layers):
    a, h = f"transformer.layers.{i}.", f"model.decoder.layers.{i}."
    for src, dst in (("self_attn", "self_attn"), ("cross_attention", "encoder_attn")):
      qkv = _take(sd, f"{a}{src}.in_proj_weight", source)
      for j, n in enumerate(("q_proj", "k_proj", "v_proj")):
        hf[f"{h}{dst}.{n}.weight"] = qkv[j * d:(j + 1) * d]
      hf[f"{h}{dst}.out_proj.weight"] = _take(sd, f"{a}{src}.out_proj.weight", source)
    for src, dst in rename.items():
      for n in (("weight", "bias") if src.startswith("norm") else ("weight",)):
        hf[f"{h}{dst}.{n}"] = _take(sd, f"{a}{src}.{n}", source)
  return hf


def to_hf_state_dict(module: MusicDecoder, variables: dict) -> dict[str, np.ndarray]:
  """Our params -> HF MusicgenForCausalLM state dict (numpy, fp32)."""
  cfg = module.config
  p = variables["params"]
  p = {k: np.asarray(v) if not isinstance(v, dict) else v for k, v in p.items()}
  if cfg.scan_layers:
    p = unstack_layers(p)
  f32 = lambda x: np.asarray(x, np.float32)
  sd = {}
  for k in range(cfg.num_codebooks):
    sd[f"model.decoder.embed_tokens.{k}.weight"] = f32(p["embed"][k])
    sd[f"lm_heads.{k}.weight"] = f32(p["lm_heads"][k]).T
  sd["model.decoder.layer_norm.weight"] = f32(p["layer_norm"]["scale"])
  sd["model.decoder.layer_norm.bias"] = f32(p["layer_norm"]["bias"])
  d = cfg.d_model
  for i in range(cfg.num_layers):
    layer, h = p[f"layers_{i}"], f"model.decoder.layers.{i}."
    for n in _NORMS:
      sd[f"{h}{n}.weight"] = f32(layer[n]["scale"])
      sd[f"{h}{n}.bias"] = f32(layer[n]["bias"])
    for a in ("self_attn", "encoder_attn"):
      for n in ("q_proj", "k_proj", "v_proj"):
        sd[f"{h}{a}.{n}.weight"] = f32(layer[a][n]["kernel"]).reshape(d, d).T
      sd[f"{h}{a}.out_proj.weight"] = f32(layer[a]["out_proj"]["kernel"]).reshape(d, d).T
    sd[f"{h}fc1.weight"] = f32(layer["mlp"]["fc1"]["kernel"]).T
    sd[f"{h}fc2.weight"] = f32(layer["mlp"]["fc2"]["kernel"]).T
  return {k: np.ascontiguousarray(v) for k, v in sd.items()}


def hf_config_dict(cfg: DecoderConfig) -> dict:
  special = cfg.special_token
  return {
      "architectures": ["MusicgenForCausalLM"], "model_type": "musicgen_decoder",
      "vocab_size": cfg.vocab_size, "max_position_embeddings": cfg.max_positions,
      "num_hidden_layers": cfg.num_layers, "ffn_dim": cfg.ffn_dim,
      "num_attention_heads": cfg.num_heads, "hidden_size": cfg.d_model,
      "num_codebooks": cfg.num_codebooks, "activation_function": cfg.activation,
      "dropout": cfg.dropout, "attention_dropout": 0.0, "activation_dropout": 0.0,
      "layerdrop": 0.0, "scale_embedding": False, "audio_channels": 1,
      "pad_token_id": special, "bos_token_id": special, "decoder_start_token_id": special,
      "tie_word_embeddings": False, "torch_dtype": "float32",
  }


def export_hf(module: MusicDecoder, variables: dict, out_dir, **_) -> str:
  """Write config.json + model.safetensors that `MusicgenForCausalLM.from_pretrained` loads.

  The null memory has no HF counterpart and is saved next to them as `null_memory.npy`.
  """
  out = Path(out_dir)
  out.mkdir(parents=True, exist_ok=True)
  hf_io.save_safetensors(to_hf_state_dict(module, variables), out)
  (out / "config.json").write_text(json.dumps(hf_config_dict(module.config), indent=2))
  np.save(out / "null_memory.npy", np.asarray(variables["params"]["null_memory"], np.float32))
  return str(out)

