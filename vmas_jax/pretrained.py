"""`load_pretrained(params, config, shardings)`: pretrained parts into initialised VMAS params.

Parts, each when the config names it:
  video.backbone_path  frame backbone (HF CLIP / Hiera) -> params["video_encoder"]["backbone"]
  decoder.hf_path      MusicGen decoder -> params["decoder"]: a `musicgen_decoder` or full
                       `musicgen` HF directory or hub id, or an audiocraft LM state dict file
  text.hf_path         T5 text encoder (+ `enc_to_dec_proj`) -> params["text_conditioner"]: a
                       full `musicgen` or a `t5` HF directory or hub id
(The codec, `codec.hf_path`, is not part of the trained params: `build.make_codec`.)

With text on (`config.text.enabled`), the video memory projection is left as initialised: the
decoder's zero-init video gate already makes step 0 exactly text-conditional MusicGen, and a
zero projection behind a zero gate would get no gradient.

With a MusicGen decoder, every path VMAS adds starts at zero, so the model at step 0 is
MusicGen unconditional: the video memory projection's kernel is zero and its bias is MusicGen's
unconditional memory token, zero: a zero token makes the cross-attention add nothing, exactly as
HF runs a decoder without encoder states, and as a full checkpoint's unconditional inputs do
(HF multiplies the projected text states by their all-zero mask).  The null memory
(classifier-free guidance) is that same token, and the beat-curve embedding is zero.

Placement: every parameter is built one tensor at a time and copied straight into the host's
own shards (`jax.make_array_from_callback`).  A stacked `[L, ...]` decoder parameter is filled
layer by layer from one HF tensor at a time, so a host holds only its own shards plus one
layer's tensor, never the whole stacked parameter or the whole checkpoint (safetensors are
read per tensor, memory-mapped).
"""

from __future__ import annotations

from pathlib import Path

import jax
import numpy as np
from flax import traverse_util

from vmas_jax.convert import from_hf
from vmas_jax.convert.hf_io import (TensorReader, load_hf_config, load_torch_state_dict,
                                   resolve_hf_dir)
from vmas_jax.convert.musicgen import audiocraft_to_hf_names, tensor_plan
from vmas_jax.models.music_decoder import DecoderConfig

# Fields that fix the decoder's weight shapes (and activation): they must match the checkpoint.
_ARCH_FIELDS = ("num_layers", "d_model", "num_heads", "ffn_dim", "num_codebooks", "vocab_size",
                "activation")


def _key(index: tuple, shape) -> tuple:
  return tuple(s.indices(n) for s, n in zip(index, shape))


def place(shape, dtype, sharding, pieces, where: str) -> jax.Array:
  """A global array from `pieces`, filled straight into this host's shards.

  pieces: [(layer, make)] with `make() -> np.ndarray`; layer None: `make` gives the whole
  array; layer i: it gives slice i of a stacked array.  Pieces are made one at a time and
  dropped once copied.
  """
  shape = tuple(shape)
  index_of = {}
  for idx in sharding.addressable_devices_indices_map(shape).values():
    index_of.setdefault(_key(idx, shape), idx)
  shards = {k: np.empty([len(range(*r)) for r in k], dtype) for k in index_of}
  for layer, make in pieces:
    full = np.asarray(make())
    want = shape if layer is None else shape[1:]
    if full.shape != want:
      raise ValueError(f"{where}: checkpoint shape {full.shape}, model expects {want}")
    for k, idx in index_of.items():
      if layer is None:
        shards[k][...] = full[idx]
      elif layer in range(*k[0]):
        shards[k][(layer - k[0][0]) // k[0][2]] = full[idx[1:]]
    del full
  return jax.make_array_from_callback(shape, sharding, lambda idx: shards[_key(idx, shape)])


def check_decoder_config(dec_cfg, ckpt: DecoderConfig, where: str) -> None:
  """The config's decoder architecture must be the checkpoint's; names the first field off."""
  for field in _ARCH_FIELDS:
    ours, theirs = dec_cfg[field], getattr(ckpt, field)
    if ours != theirs:
      raise ValueError(f"config.decoder.{field}={ours!r} but the decoder.hf_path checkpoint "
                       f"{where} has {theirs!r}; set --config.decoder.{field}={theirs!r} "
                       f"(the decoder architecture comes from the checkpoint)")


def decoder_source(path, dec_cfg):
  """(checkpoint DecoderConfig, get(name) -> np.ndarray, name prefix, null memory [D], where)."""
  p = Path(path)
  if p.is_file():  # audiocraft LM state dict: its architecture is the config's
    ckpt = DecoderConfig.from_config(dec_cfg)
    hf = audiocraft_to_hf_names(load_torch_state_dict(p), ckpt, p)
    return ckpt, hf.__getitem__, "", np.zeros((ckpt.d_model,), np.float32), str(p)
  directory = resolve_hf_dir(path)
  hf_config = load_hf_config(directory)
  model_type = hf_config.get("model_type")
  if model_type not in ("musicgen", "musicgen_decoder"):
    raise ValueError(f"{directory}/config.json: model_type {model_type!r} is not a MusicGen "
                     f"checkpoint (expected 'musicgen' or 'musicgen_decoder')")
  ckpt = DecoderConfig.from_hf_config(hf_config)
  reader = TensorReader(directory)
  null = np.zeros((ckpt.d_model,), np.float32)
  if (directory / "null_memory.npy").is_file():  # written by our export
    null = np.load(directory / "null_memory.npy").astype(np.float32)
  return ckpt, reader, "decoder." if model_type == "musicgen" else "", null, str(directory)


def load_decoder(target: dict, shardings: dict, path, dec_cfg) -> tuple[dict, np.ndarray]:
  """MusicGen weights at `path` in the layout of `target` (the decoder's params, scan or
  unrolled) with `shardings`.  Returns (params, the checkpoint's null memory [D])."""
  ckpt, get, prefix, null, where = decoder_source(path, dec_cfg)
  check_decoder_config(dec_cfg, ckpt, where)
  plan = tensor_plan(ckpt, prefix)

  def fetch(name):
    try:
      return get(name)
    except KeyError:
      raise ValueError(f"{where}: missing weight {name!r}") from None

  flat_t = traverse_util.flatten_dict(target)
  flat_s = traverse_util.flatten_dict(shardings)
  out = {}
  for path_, leaf in flat_t.items():
    if path_ == ("null_memory",):
      pieces = [(None, lambda: null)]
    elif path_[0] == "layers":  # scan layout: [L, ...] stacked from per-layer tensors
      pieces = [(i, lambda i=i: plan[(f"layers_{i}",) + path_[1:]](fetch))
                for i in range(ckpt.num_layers)]
    else:
      pieces = [(None, lambda: plan[path_](fetch))]
    out[path_] = place(leaf.shape, leaf.dtype, flat_s[path_], pieces,
                       f"{where}: decoder/{'/'.join(path_)}")
  return traverse_util.unflatten_dict(out), null


def _place_tree(target, shardings, values, where):
  flat_v = traverse_util.flatten_dict(values)
  flat_s = traverse_util.flatten_dict(shardings)
  out = {}
  for path_, leaf in traverse_util.flatten_dict(target).items():
    if path_ not in flat_v:
      raise ValueError(f"{where}: no weight for {'/'.join(path_)}")
    out[path_] = place(leaf.shape, leaf.dtype, flat_s[path_],
                       [(None, lambda v=flat_v[path_]: v)], f"{where}: {'/'.join(path_)}")
  return traverse_util.unflatten_dict(out)


def load_pretrained(params: dict, config, shardings: dict) -> dict:
  """`params` (VMAS, initialised, sharded as `shardings`) with every pretrained part that
  `config` names put in place (see the module docstring).  Other params are kept."""
  params = dict(params)
  video = config.video
  if video.backbone_path and not video.use_features:
    import jax.numpy as jnp
    _, variables = from_hf(video.backbone_path, dtype=jnp.dtype(video.dtype))
    encoder = dict(params["video_encoder"])
    encoder["backbone"] = _place_tree(encoder["backbone"],
                                      shardings["video_encoder"]["backbone"], variables["params"],
                                      f"video.backbone_path={video.backbone_path}")
    params["video_encoder"] = encoder
  text = config.text
  if text.enabled and text.hf_path:
    params["text_conditioner"] = _place_tree(params["text_conditioner"],
                                             shardings["text_conditioner"],
                                             _text_weights(text.hf_path),
                                             f"text.hf_path={text.hf_path}")
  if config.decoder.hf_path:
    params["decoder"], null = load_decoder(params["decoder"], shardings["decoder"],
                                           config.decoder.hf_path, config.decoder)
    if text.enabled:
      params["beat_embed"] = _zeros(params["beat_embed"], shardings["beat_embed"])
      return params
    # VMAS's own paths into the decoder start at zero (MusicGen unconditional at step 0).
    encoder = dict(params["video_encoder"])
    proj, sh = encoder["out_proj"], shardings["video_encoder"]["out_proj"]
    encoder["out_proj"] = {
        "kernel": place(proj["kernel"].shape, proj["kernel"].dtype, sh["kernel"],
                        [(None, lambda: np.zeros(proj["kernel"].shape))], "out_proj"),
        "bias": place(proj["bias"].shape, proj["bias"].dtype, sh["bias"],
                      [(None, lambda: null)], "out_proj")}
    params["video_encoder"] = encoder
    params["beat_embed"] = _zeros(params["beat_embed"], shardings["beat_embed"])
  return params


def _zeros(tree, shardings):
  return jax.tree.map(
      lambda x, s: place(x.shape, x.dtype, s, [(None, lambda: np.zeros(x.shape))], "zeros"),
      tree, shardings)


def _text_weights(path) -> dict:
  """`TextConditioner` params of a full MusicGen (T5 + enc_to_dec_proj) or a T5 directory."""
  _, variables = from_hf(path)
  params = variables["params"]
  if "text_encoder" not in params:  # a T5 encoder alone
    return {"text_encoder": params}
  return {k: params[k] for k in ("text_encoder", "enc_to_dec_proj") if k in params}
