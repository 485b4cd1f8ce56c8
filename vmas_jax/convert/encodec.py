"""EnCodec weights: Hugging Face `EncodecModel` and audiocraft compression models -> Flax.

  module, variables = import_hf(directory, config)           # via vmas_jax.convert.from_hf
  module, variables = import_audiocraft("compression_state_dict.bin")   # MusicGen's codec

Weight norm (`weight_g`/`weight_v`, or the `parametrizations.weight.original0/1` of newer
PyTorch) is folded into plain kernels here.  PyTorch layouts: Conv1d weight `[out, in, k]` ->
kernel `[k, in, out]`; ConvTranspose1d weight `[in, out, k]` -> kernel `[k, in, out]`; LSTM
`weight_ih_l{n}` `[4H, in]` -> `kernel_ih_{n}` `[in, 4H]`, the two biases summed.

audiocraft names differ from HF names only in fixed ways (`encoder.model.N.conv.conv` vs
`encoder.layers.N.conv`, `quantizer.vq.layers.K._codebook` vs `quantizer.layers.K.codebook`,
...), listed in `AUDIOCRAFT_TO_HF`; the layer indices are the same sequential indices.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import jax.numpy as jnp
import numpy as np

from vmas_jax.convert.hf_io import (load_state_dict, load_weights_file, save_safetensors,
                                   weight_norm)
from vmas_jax.models.codec import EncodecConfig, EncodecModel

# (regex on an audiocraft name, replacement giving the HF name), applied in order.
AUDIOCRAFT_TO_HF = (
    (r"^(encoder|decoder)\.model\.", r"\1.layers."),
    (r"\.convtr\.convtr\.", ".conv."),  # StreamableConvTranspose1d -> NormConvTranspose1d -> conv
    (r"\.conv\.conv\.", ".conv."),  # StreamableConv1d -> NormConv1d -> nn.Conv1d
    (r"^quantizer\.vq\.layers\.(\d+)\._codebook\.", r"quantizer.layers.\1.codebook."),
)

# Codebook buffers the reference keeps for training (EMA k-means); not needed for inference.
_UNUSED = re.compile(r"\.codebook\.(inited|cluster_size|embed_avg)$")


def module_from_hf_config(config: dict, dtype=jnp.float32) -> EncodecModel:
  return EncodecModel(EncodecConfig.from_hf_config(config), dtype=dtype)


def import_hf(directory: str | os.PathLike, config: dict, dtype=jnp.float32, *,
              trust_remote_pickle: bool = False):
  """A HF `EncodecModel` directory (safetensors or .bin) -> (EncodecModel, variables)."""
  module = module_from_hf_config(config, dtype)
  state = load_state_dict(directory, trust_remote_pickle=trust_remote_pickle)
  try:
    params = params_from_hf_state(state, module.config)
  except (KeyError, ValueError) as e:
    raise ValueError(f"{directory}: {e}") from None
  check_shapes(module, params, str(directory))
  return module, {"params": params}


def import_audiocraft(state_dict_or_path, config: EncodecConfig | dict | None = None,
                      dtype=jnp.float32, *, trust_remote_pickle: bool = False):
  """audiocraft compression-model weights (a state dict, or a `.bin`/`.th`/`.safetensors` file
  of one, e.g. MusicGen's `compression_state_dict.bin`) -> (EncodecModel, variables).

  `config`: an `EncodecConfig`, a HF config dict, or None for `facebook/encodec_32khz`'s.
  audiocraft's own files also pickle their training config, so reading them needs
  `trust_remote_pickle=True` (only for files you trust) or a safetensors copy.
  """
  if isinstance(config, dict):
    config = EncodecConfig.from_hf_config(config)
  config = config or EncodecConfig.encodec_32khz()
  source = "state dict"
  if isinstance(state_dict_or_path, (str, os.PathLike)):
    source = str(state_dict_or_path)
    if not Path(source).is_file():
      raise FileNotFoundError(f"{source}: no such audiocraft checkpoint")
    state = load_weights_file(source, trust_remote_pickle=trust_remote_pickle)
  else:
    state = {k: np.asarray(v.detach().cpu().numpy() if hasattr(v, "detach") else v)
             for k, v in state_dict_or_path.items()}
  try:
    params = params_from_hf_state(audiocraft_to_hf_names(state), config)
  except (KeyError, ValueError) as e:
    raise ValueError(f"{source}: {e}") from None
  module = EncodecModel(config, dtype=dtype)
  check_shapes(module, params, source)
  return module, {"params": params}


def audiocraft_to_hf_names(state: dict) -> dict:
  out = {}
  for name, value in state.items():
    for pattern, repl in AUDIOCRAFT_TO_HF:
      name = re.sub(pattern, repl, name)
    out[name] = value
  return out


class _Reader:
  """Takes weights out of a state dict by name and reports what is missing or left over."""

  def __init__(self, state: dict):
    self.state = {k: np.asarray(v, np.float32) for k, v in state.items()
                  if not _UNUSED.search(k)}
    self.used: set[str] = set()

  def take(self, name: str) -> np.ndarray:
    if name not in self.state:
      raise KeyError(f"missing weight {name!r}")
    self.used.add(name)
    return self.state[name]

  def weight(self, prefix: str) -> np.ndarray:
    """A (possibly weight-normed) conv weight under `prefix`, with the norm folded in."""
    for g, v in ((".weight_g", ".weight_v"),
                 (".parametrizations.weight.original0", ".parametrizations.weight.original1")):
      if prefix + g in self.state:
        return weight_norm(self.take(prefix + g), self.take(prefix + v))
    return self.take(prefix + ".weight")

  def check_all_used(self):
    left = sorted(set(self.state) - self.used)
    if left:
      raise ValueError(f"{len(left)} weights not used by this architecture, e.g. {left[:5]}")


def hf_layout(cfg: EncodecConfig) -> list[tuple[tuple[str, ...], str, str]]:
  """(Flax param path, HF module prefix, kind) of every layer, kind in conv | convtr | lstm.

  The HF modules are flat sequential lists (ELUs take indices too); this walks them in the
  order the reference builds them.  Import and export both read this one table.
  """
  out = [(("encoder", "conv_in"), "encoder.layers.0.conv", "conv")]

  def res_block(path, prefix):
    # HF/audiocraft block = [ELU, conv, ELU, conv]: the convs sit at indices 1 and 3.
    out.append((path + ("conv1",), f"{prefix}.block.1.conv", "conv"))
    out.append((path + ("conv2",), f"{prefix}.block.3.conv", "conv"))
    if cfg.use_conv_shortcut:
      out.append((path + ("shortcut",), f"{prefix}.shortcut.conv", "conv"))

  i = 1
  for s in range(len(cfg.upsampling_ratios)):
    for j in range(cfg.num_residual_layers):
      res_block(("encoder", f"down{s}_res{j}"), f"encoder.layers.{i}")
      i += 1
    out.append((("encoder", f"down{s}_conv"), f"encoder.layers.{i + 1}.conv", "conv"))
    i += 2
  out.append((("encoder", "lstm"), f"encoder.layers.{i}.lstm", "lstm"))
  out.append((("encoder", "conv_out"), f"encoder.layers.{i + 2}.conv", "conv"))
  out.append((("decoder", "conv_in"), "decoder.layers.0.conv", "conv"))
  out.append((("decoder", "lstm"), "decoder.layers.1.lstm", "lstm"))
  i = 2
  for s in range(len(cfg.upsampling_ratios)):
    out.append((("decoder", f"up{s}_conv"), f"decoder.layers.{i + 1}.conv", "convtr"))
    i += 2
    for j in range(cfg.num_residual_layers):
      res_block(("decoder", f"up{s}_res{j}"), f"decoder.layers.{i}")
      i += 1
  out.append((("decoder", "conv_out"), f"decoder.layers.{i + 1}.conv", "conv"))
  return out


def _read_layer(r: _Reader, prefix: str, kind: str, num_lstm_layers: int) -> dict:
  if kind == "lstm":
    out = {}
    for n in range(num_lstm_layers):
      out[f"kernel_ih_{n}"] = r.take(f"{prefix}.weight_ih_l{n}").T
      out[f"kernel_hh_{n}"] = r.take(f"{prefix}.weight_hh_l{n}").T
      out[f"bias_{n}"] = r.take(f"{prefix}.bias_ih_l{n}") + r.take(f"{prefix}.bias_hh_l{n}")
    return out
  w = r.weight(prefix)  # Conv1d [out, in, k]; ConvTranspose1d [in, out, k]
  kernel = w.transpose(2, 0, 1) if kind == "convtr" else w.transpose(2, 1, 0)
  return {"kernel": kernel, "bias": r.take(prefix + ".bias")}


def params_from_hf_state(state: dict, cfg: EncodecConfig) -> dict:
  """HF-named `state` (numpy) -> the param tree of `EncodecModel(cfg)`."""
  r = _Reader(state)
  params = {"encoder": {}, "decoder": {}}
  for path, prefix, kind in hf_layout(cfg):
    node = params
    for key in path[:-1]:
      node = node.setdefault(key, {})
    node[path[-1]] = _read_layer(r, prefix, kind, cfg.num_lstm_layers)
  codebooks = np.stack([r.take(f"quantizer.layers.{k}.codebook.embed")
                        for k in range(cfg.num_quantizers)])
  r.check_all_used()
  want = (cfg.num_quantizers, cfg.codebook_size, cfg.hidden_size)
  if codebooks.shape != want:
    raise ValueError(f"codebooks have shape {codebooks.shape}, the config implies {want}")
  params["codebooks"] = codebooks
  return params


def hf_state_from_params(params: dict, cfg: EncodecConfig) -> dict[str, np.ndarray]:
  """The inverse of `params_from_hf_state`: HF `EncodecModel` state dict names and layouts.

  Kernels are written as weight norm with g = |kernel| (so g * v / |v| is the kernel; v = 1
  where the kernel is 0).  Of
  the codebooks' training buffers only the small ones are written: `embed_avg` would double
  the codebooks' size, and HF's inference never reads it (it reports it as newly initialised).
  """
  state = {}
  for path, prefix, kind in hf_layout(cfg):
    layer = params
    for key in path:
      layer = layer[key]
    layer = {k: np.asarray(v, np.float32) for k, v in layer.items()}
    if kind == "lstm":
      for n in range(cfg.num_lstm_layers):
        state[f"{prefix}.weight_ih_l{n}"] = layer[f"kernel_ih_{n}"].T
        state[f"{prefix}.weight_hh_l{n}"] = layer[f"kernel_hh_{n}"].T
        state[f"{prefix}.bias_ih_l{n}"] = layer[f"bias_{n}"]
        state[f"{prefix}.bias_hh_l{n}"] = np.zeros_like(layer[f"bias_{n}"])
      continue
    k = layer["kernel"]  # [k, in, out]
    w = k.transpose(1, 2, 0) if kind == "convtr" else k.transpose(2, 1, 0)
    norm = np.sqrt(np.sum(w * w, axis=(1, 2), keepdims=True))
    state[f"{prefix}.parametrizations.weight.original0"] = norm
    # an all-zero slice (g = 0) gets a unit direction: 0 * v / |v| must not be 0 / 0
    state[f"{prefix}.parametrizations.weight.original1"] = np.where(norm > 0, w, 1.0)
    state[f"{prefix}.bias"] = layer["bias"]
  for q, embed in enumerate(np.asarray(params["codebooks"], np.float32)):
    name = f"quantizer.layers.{q}.codebook"
    state[f"{name}.embed"] = embed
    state[f"{name}.cluster_size"] = np.ones(embed.shape[0], np.float32)
    state[f"{name}.inited"] = np.ones(1, np.float32)
  return state


def export_hf(module: EncodecModel, variables: dict, out_dir, **kw) -> str:
  """Write `out_dir/config.json` + `model.safetensors` that `transformers.EncodecModel` and
  `vmas_jax.convert.from_hf` load."""
  import json
  del kw
  out = Path(out_dir)
  out.mkdir(parents=True, exist_ok=True)
  (out / "config.json").write_text(json.dumps(module.config.to_hf_config(), indent=2))
  save_safetensors(hf_state_from_params(variables["params"], module.config), out)
  return str(out)


def check_shapes(module: EncodecModel, params: dict, source: str = "checkpoint") -> None:
  """Raises naming the first parameter whose presence or shape differs from `module`'s."""
  import flax.linen as nn
  import jax
  hop = module.config.hop_length
  want = jax.eval_shape(lambda: nn.meta.unbox(module.init(jax.random.PRNGKey(0),
                                                          jnp.zeros((1, hop)))))["params"]
  want = {jax.tree_util.keystr(p): x.shape for p, x in jax.tree_util.tree_leaves_with_path(want)}
  got = {jax.tree_util.keystr(p): np.shape(x)
         for p, x in jax.tree_util.tree_leaves_with_path(params)}
  for name in sorted(set(want) | set(got)):
    if want.get(name) != got.get(name):
      raise ValueError(f"{source}: parameter {name} has shape {got.get(name)}, "
                       f"the architecture expects {want.get(name)}")
