"""Import LAION-CLAP's audio tower from a Hugging Face `ClapModel` (model_type "clap", e.g.
`laion/larger_clap_music`, `laion/clap-htsat-unfused`) or `ClapAudioModelWithProjection`
("clap_audio_model") directory or hub id.

  module, variables, front_end = load_clap("laion/larger_clap_music")
  out = module.apply(variables, front_end.windows(wav_48k))   # see vmas_jax.models.clap_audio

Weights are read safely (safetensors, or `torch.load(weights_only=True)`).  Only the
non-fusion variant is supported: fusion checkpoints (`enable_fusion`, e.g.
`laion/clap-htsat-fused`) are refused with a clear error.

State-dict names (below `audio_model.audio_encoder.`): batch_norm, patch_embed.{proj, norm},
layers.I.blocks.J.{layernorm_before, attention.self.{query, key, value,
relative_position_bias_table}, attention.output.dense, layernorm_after, intermediate.dense,
output.dense}, layers.I.downsample.{norm, reduction}, norm; then audio_projection.linear{1,2}.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from vmas_jax.convert.hf_io import load_hf_config, params_from_dir, resolve_hf_dir
from vmas_jax.eval.clap_input import ClapFrontEnd
from vmas_jax.models.clap_audio import ClapAudio

# ClapAudioConfig's defaults: config.json written with save_pretrained omits default values.
_AUDIO_DEFAULTS = dict(spec_size=256, num_mel_bins=64, patch_size=4, patch_stride=(4, 4),
                       patch_embeds_hidden_size=96, depths=(2, 2, 6, 2),
                       num_attention_heads=(4, 8, 16, 32), window_size=8, mlp_ratio=4.0,
                       qkv_bias=True, enable_patch_layer_norm=True, layer_norm_eps=1e-5,
                       hidden_act="gelu", projection_dim=512, projection_hidden_act="relu",
                       enable_fusion=False, hidden_size=768)


def audio_config(config: dict, where: str = "config.json") -> dict:
  """The audio tower's settings (defaults filled in) from a "clap" or "clap_audio_model"
  config; a fusion model is refused."""
  model_type = config.get("model_type")
  if model_type == "clap":
    c = {**_AUDIO_DEFAULTS, **(config.get("audio_config") or {})}
    # ClapModel overrides the towers' projection settings with its own
    c["projection_dim"] = config.get("projection_dim", 512)
    c["projection_hidden_act"] = config.get("projection_hidden_act", "relu")
  elif model_type == "clap_audio_model":
    c = {**_AUDIO_DEFAULTS, **config}
  else:
    raise ValueError(f"{where}: model_type {model_type!r} is not a CLAP model "
                     f"(expected 'clap' or 'clap_audio_model')")
  if c["enable_fusion"]:
    raise ValueError(f"{where}: a fusion CLAP checkpoint (enable_fusion, e.g. "
                     f"laion/clap-htsat-fused) is not supported; use a non-fusion one such as "
                     f"laion/larger_clap_music or laion/clap-htsat-unfused")
  for key in ("patch_size", "patch_stride"):
    v = c[key]
    if not isinstance(v, int) and len(set(v)) != 1:
      raise ValueError(f"{where}: non-square {key} {v} is not supported")
    c[key] = v if isinstance(v, int) else v[0]
  return c


def module_from_hf_config(config: dict, where: str = "config.json") -> ClapAudio:
  c = audio_config(config, where)
  module = ClapAudio(
      spec_size=c["spec_size"], num_mel_bins=c["num_mel_bins"], patch_size=c["patch_size"],
      patch_stride=c["patch_stride"], embed_dim=c["patch_embeds_hidden_size"],
      depths=tuple(c["depths"]), num_heads=tuple(c["num_attention_heads"]),
      window=c["window_size"], mlp_ratio=c["mlp_ratio"], qkv_bias=c["qkv_bias"],
      patch_norm=c["enable_patch_layer_norm"], eps=c["layer_norm_eps"], act=c["hidden_act"],
      projection_dim=c["projection_dim"], projection_act=c["projection_hidden_act"])
  if c["patch_embeds_hidden_size"] * 2 ** (len(c["depths"]) - 1) != c["hidden_size"]:
    raise ValueError(f"{where}: hidden_size {c['hidden_size']} is not the last stage's width")
  return module


def _ln(sd, name):
  return {"scale": sd[f"{name}.weight"], "bias": sd[f"{name}.bias"]}


def _dense(sd, name, bias=True):
  out = {"kernel": sd[f"{name}.weight"].T}
  if bias:
    out["bias"] = sd[f"{name}.bias"]
  return out


def params_from_state_dict(module: ClapAudio, sd: dict[str, np.ndarray]) -> dict:
  """{"params", "batch_stats"} of `module` from a ClapModel / ClapAudioModelWithProjection
  state dict."""
  e = "audio_model.audio_encoder"
  p = {"patch_embed": {"kernel": sd[f"{e}.patch_embed.proj.weight"].transpose(2, 3, 1, 0),
                       "bias": sd[f"{e}.patch_embed.proj.bias"]},
       "batch_norm": {"scale": sd[f"{e}.batch_norm.weight"], "bias": sd[f"{e}.batch_norm.bias"]},
       "norm": _ln(sd, f"{e}.norm"),
       "projection_1": _dense(sd, "audio_projection.linear1"),
       "projection_2": _dense(sd, "audio_projection.linear2")}
  if module.patch_norm:
    p["patch_norm"] = _ln(sd, f"{e}.patch_embed.norm")
  for i, depth in enumerate(module.depths):
    for j in range(depth):
      b = f"{e}.layers.{i}.blocks.{j}"
      p[f"stage_{i}_block_{j}"] = {
          "layernorm_before": _ln(sd, f"{b}.layernorm_before"),
          "layernorm_after": _ln(sd, f"{b}.layernorm_after"),
          "attention": {
              **{k: _dense(sd, f"{b}.attention.self.{k}", module.qkv_bias)
                 for k in ("query", "key", "value")},
              "relative_position_bias_table":
                  sd[f"{b}.attention.self.relative_position_bias_table"],
              "output": _dense(sd, f"{b}.attention.output.dense")},
          "intermediate": _dense(sd, f"{b}.intermediate.dense"),
          "output": _dense(sd, f"{b}.output.dense")}
    if i < len(module.depths) - 1:
      p[f"stage_{i}_merge"] = {"norm": _ln(sd, f"{e}.layers.{i}.downsample.norm"),
                               "reduction": _dense(sd, f"{e}.layers.{i}.downsample.reduction",
                                                   bias=False)}
  stats = {"batch_norm": {"mean": sd[f"{e}.batch_norm.running_mean"],
                          "var": sd[f"{e}.batch_norm.running_var"]}}
  return {"params": p, "batch_stats": stats}


def load_front_end(directory: Path, num_mel_bins: int) -> ClapFrontEnd:
  """The feature extractor's settings from preprocessor_config.json (ClapFeatureExtractor's
  defaults where absent)."""
  path = directory / "preprocessor_config.json"
  c = {}
  if path.is_file():
    try:
      c = json.loads(path.read_text())
    except json.JSONDecodeError as e:
      raise ValueError(f"{path}: not valid JSON ({e})") from None
  front = ClapFrontEnd(
      sample_rate=c.get("sampling_rate", 48000), n_mels=c.get("feature_size", 64),
      fft_size=c.get("fft_window_size", 1024), hop=c.get("hop_length", 480),
      max_seconds=c.get("max_length_s", 10), fmin=c.get("frequency_min", 0.0),
      fmax=c.get("frequency_max", 14000.0), top_db=c.get("top_db"),
      padding=c.get("padding", "repeatpad"))
  if front.n_mels != num_mel_bins:
    raise ValueError(f"{path}: feature_size {front.n_mels} != the model's num_mel_bins "
                     f"{num_mel_bins}")
  return front


def load_clap(path_or_repo_id: str | os.PathLike, *, trust_remote_pickle: bool = False
              ) -> tuple[ClapAudio, dict, ClapFrontEnd]:
  """(ClapAudio module, variables, front end) from a HF CLAP directory or hub id."""
  directory = resolve_hf_dir(path_or_repo_id)
  module = module_from_hf_config(load_hf_config(directory), f"{directory}/config.json")
  variables = params_from_dir(module, directory, params_from_state_dict, "CLAP audio",
                              trust_remote_pickle=trust_remote_pickle)
  return module, variables, load_front_end(directory, module.num_mel_bins)
