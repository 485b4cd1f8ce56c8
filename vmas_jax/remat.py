"""Rematerialisation policies for the Transformer blocks (`decoder.remat_policy`).

A policy decides which activations of a block the backward pass keeps and which it
recomputes.  Saving the matmul outputs and recomputing the cheap elementwise work (norms,
GELU, softmax) trades a few percent of FLOPs for most of the activation memory:

  none           no remat: everything the backward needs is kept
  full           keep only the block inputs; the whole block is recomputed
  dots_saveable  keep every dot output, attention scores [B, H, S, S] included
  dots_no_batch  keep the projection and MLP dot outputs (dots without batch dims), not
                 the attention scores and weighted sums (batched dots)
  names          keep exactly the tensors tagged with `checkpoint_name` in `layers`:
                 q/k/v, the attention context, the MLP's first matmul output
"""

from __future__ import annotations

import jax
from jax.ad_checkpoint import checkpoint_name

# Names that `layers` tags its activations with (see `tag`).
QKV, CONTEXT, MLP_HIDDEN = "qkv", "attention_context", "mlp_hidden"

POLICIES = {
    "none": None,
    "full": jax.checkpoint_policies.nothing_saveable,
    "dots_saveable": jax.checkpoint_policies.dots_saveable,
    "dots_no_batch": jax.checkpoint_policies.checkpoint_dots_with_no_batch_dims,
    "names": jax.checkpoint_policies.save_only_these_names(QKV, CONTEXT, MLP_HIDDEN),
}


def tag(x: jax.Array, name: str) -> jax.Array:
  """Name an activation for the "names" policy (identity otherwise)."""
  return checkpoint_name(x, name)
