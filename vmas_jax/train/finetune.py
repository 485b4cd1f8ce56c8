"""Fine-tuning: train only chosen parts (`config.finetune.trainable`), LoRA on the decoder.

  model = wrap_model(build_model(config), config)   # adds params["lora"]; stops frozen grads
  tx = wrap_optimizer(tx, config)                    # no optimizer state for frozen params

Groups (a comma list in `config.finetune.trainable`):
  all             every parameter (the default: plain training)
  decoder         the MusicGen decoder (`decoder/...`)
  video_encoder   the temporal video encoder (its frame backbone only if not freeze_backbone)
  cross_attention the decoder's cross-attention layers and their LayerNorms
  layer_norms     every LayerNorm (decoder and video encoder)
  heads           what VMAS adds around the decoder: beat embedding, beat head, contrastive
                  projections and temperature, the null memory
  lora            the LoRA adapters (`config.finetune.lora_rank` > 0)

Frozen parameters are wrapped in `stop_gradient` inside the forward pass (so XLA drops their
weight-gradient matmuls) and get `optax.set_to_zero` through `optax.multi_transform`, whose
inner AdamW then keeps `MaskedNode`s (no moments) for them.
"""

from __future__ import annotations

import jax
import optax

from vmas_jax.train import lora

GROUPS = ("all", "decoder", "video_encoder", "cross_attention", "layer_norms", "heads", "lora")
_HEADS = ("beat_embed", "beat_head", "music_proj", "video_proj", "log_temperature")


def parse_groups(text: str) -> tuple[str, ...]:
  groups = tuple(g.strip() for g in text.split(",") if g.strip())
  bad = [g for g in groups if g not in GROUPS]
  if bad or not groups:
    raise ValueError(f"config.finetune.trainable={text!r}: expected a comma list of {GROUPS}")
  return groups


def is_trainable(path: tuple, groups, freeze_backbone: bool = True) -> bool:
  """Whether the parameter at `path` (a tuple of keys) belongs to one of `groups`."""
  if freeze_backbone and tuple(path[:2]) == ("video_encoder", "backbone"):
    return False  # the model already stops its gradient; no optimizer state either
  if "all" in groups:
    return True
  checks = {
      "decoder": path[0] == "decoder",
      "video_encoder": path[0] == "video_encoder",
      "cross_attention": path[0] == "decoder" and any(p.startswith("encoder_attn") for p in path),
      "layer_norms": any(p.endswith("norm") for p in path[:-1]) and path[-1] in ("scale", "bias"),
      "heads": path[0] in _HEADS or path == ("decoder", "null_memory"),
      "lora": path[0] == "lora",
  }
  return any(checks[g] for g in groups)


def settings(config):
  """(groups, lora rank, lora alpha, lora targets, freeze_backbone) of a config."""
  ft = config.finetune
  rank = int(ft.lora_rank)
  targets = lora.parse_targets(ft.lora_targets) if rank else ()
  return (parse_groups(ft.trainable), rank, float(ft.lora_alpha), targets,
          bool(config.video.freeze_backbone))


def trainable_mask(params, config):
  """Tree of bools like `params`: True where the config trains the parameter."""
  groups, _, _, _, freeze = settings(config)
  return jax.tree_util.tree_map_with_path(
      lambda path, _: is_trainable(tuple(k.key for k in path), groups, freeze), params)


def is_plain(config) -> bool:
  """True when nothing is frozen beyond the backbone and there is no LoRA (plain training)."""
  groups, rank, *_ = settings(config)
  return "all" in groups and rank == 0


class FinetuneModel:
  """`model` with LoRA adapters in its params and frozen params cut from the gradient.

  Has the `init` / `apply` of a Linen module (what the train state and step call); other
  attributes are the wrapped model's.
  """

  def __init__(self, model, config):
    self.model, self.config = model, config
    _, self.rank, self.alpha, self.targets, _ = settings(config)

  def __getattr__(self, name):
    return getattr(self.model, name)

  def init(self, rngs, *args, **kwargs):
    variables = dict(self.model.init(rngs, *args, **kwargs))
    if self.rank:
      key = rngs["params"] if isinstance(rngs, dict) else rngs
      params = dict(variables["params"])
      params["lora"] = lora.init(params, jax.random.fold_in(key, 7), self.rank, self.targets)
      variables["params"] = params
    return variables

  def apply(self, variables, *args, **kwargs):
    params = variables["params"]
    mask = trainable_mask(params, self.config)
    params = jax.tree.map(lambda p, t: p if t else jax.lax.stop_gradient(p), params, mask)
    return self.model.apply({**variables, "params": lora.merge(params, self.alpha)}, *args,
                            **kwargs)


def wrap_model(model, config):
  """`model` itself for plain training, else a `FinetuneModel`."""
  return model if is_plain(config) else FinetuneModel(model, config)


def wrap_optimizer(tx: optax.GradientTransformation, config) -> optax.GradientTransformation:
  """`tx` on the trainable params only; frozen ones get zero updates and no state."""
  if is_plain(config):
    return tx
  labels = lambda params: jax.tree.map(lambda t: "train" if t else "frozen",
                                       trainable_mask(params, config))
  return optax.multi_transform({"train": tx, "frozen": optax.set_to_zero()}, labels)


def merged_params(params, config) -> dict:
  """Plain model params (LoRA merged in), for generation and export."""
  return lora.merge(params, settings(config)[2])
