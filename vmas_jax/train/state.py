"""Train state: optimiser, sharded initialisation, batch placement.

The state is a plain dict `{"params", "opt_state", "step", "rng"}` (fp32 master weights;
the modules cast to their compute dtype).  Parameters are created directly in their sharded
layout: `jax.eval_shape` of the init gives the logical axis names of every leaf, the config's
rules map them to mesh axes, and the init itself is jitted with those `out_shardings`.
"""

from __future__ import annotations

import logging
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

log = logging.getLogger(__name__)


def rules_from_config(config) -> tuple[tuple[str, Any], ...]:
  return tuple((name, tuple(ax) if isinstance(ax, list) else ax)
               for name, ax in config.logical_axis_rules)


def make_schedule(optim, total_steps: int) -> optax.Schedule:
  """Linear warmup to `learning_rate`, cosine decay to `min_lr_ratio * learning_rate`."""
  warmup = int(min(optim.warmup_steps, max(total_steps - 1, 0)))
  return optax.warmup_cosine_decay_schedule(
      init_value=0.0, peak_value=optim.learning_rate, warmup_steps=warmup,
      decay_steps=max(total_steps, warmup + 1), end_value=optim.learning_rate * optim.min_lr_ratio)


def _decay_mask(params):
  # Weight decay on matrices and embedding tables only, not on norms, biases or scalars.
  return jax.tree.map(lambda p: p.ndim >= 2, params)


def make_optimizer(optim, total_steps: int) -> tuple[optax.GradientTransformation, optax.Schedule]:
  """Clip by global norm, then AdamW (β=(b1, b2), decoupled weight decay) on the schedule.

  With `optim.param_scale` > 0 (absent: 0) Adam's step for each tensor is multiplied by that
  tensor's RMS, or by `param_scale` where the RMS is smaller: the learning rate is then the
  fraction of its own size by which a weight moves.  For starting points whose tensors span
  orders of magnitude (the lapped codec fit: 1e-4 to 1e4), where plain Adam moves every weight
  by the same absolute amount and wrecks the small ones at once.
  """
  schedule = make_schedule(optim, total_steps)
  clip = optax.clip_by_global_norm(optim.grad_clip) if optim.grad_clip > 0 else optax.identity()
  param_scale = float(optim.get("param_scale", 0.0))
  if param_scale <= 0:  # optax.adamw itself: the opt_state layout of existing checkpoints
    tx = optax.chain(clip, optax.adamw(schedule, b1=optim.b1, b2=optim.b2,
                                       weight_decay=optim.weight_decay, mask=_decay_mask))
    return tx, schedule
  tx = optax.chain(clip, optax.scale_by_adam(b1=optim.b1, b2=optim.b2),
                   optax.scale_by_param_block_rms(min_scale=param_scale),
                   optax.add_decayed_weights(optim.weight_decay, mask=_decay_mask),
                   optax.scale_by_learning_rate(schedule))
  return tx, schedule


def _fit_spec(shape, spec: P, mesh: Mesh) -> P:
  """Drop mesh axes that do not divide a dimension (e.g. a vocab of 2048+1 over tensor=2)."""
  out = []
  for dim, axes in zip(shape, tuple(spec) + (None,) * (len(shape) - len(spec))):
    names = () if axes is None else (axes if isinstance(axes, tuple) else (axes,))
    size = int(np.prod([mesh.shape[a] for a in names])) if names else 1
    if size > 1 and dim % size:
      log.warning("dimension %d is not divisible by mesh axes %s; replicating it", dim, names)
      axes = None
    out.append(axes)
  return P(*out)


def param_specs(abstract_boxed, rules) -> Any:
  """Tree of logical-rule PartitionSpecs for a boxed (`nn.LogicallyPartitioned`) tree."""
  return nn.logical_to_mesh(nn.get_partition_spec(abstract_boxed), rules)


def _param_spec_lookup(abstract_params, specs):
  """f(path, leaf) -> PartitionSpec for an optimiser-state leaf: a moment whose key path ends
  with a parameter's path (and has its shape) takes that parameter's spec; counters, scalars
  and anything else are replicated.  Works for masked / multi-transform states, whose moments
  exist only for some parameters."""
  by_path = {}
  for (path, x), spec in zip(jax.tree_util.tree_leaves_with_path(abstract_params),
                             jax.tree.leaves(specs, is_leaf=lambda s: isinstance(s, P))):
    by_path[tuple(k.key for k in path)] = (x.shape, spec)

  def lookup(path, leaf):
    keys = tuple(getattr(k, "key", None) for k in path)
    for i in range(len(keys)):
      shape, spec = by_path.get(keys[i:], (None, None))
      if spec is not None and shape == leaf.shape:
        return spec
    return P()
  return lookup


def batch_sharding(mesh: Mesh, rules) -> NamedSharding:
  """Leading (batch) dimension split over the mesh axes the rules give `batch`."""
  return NamedSharding(mesh, nn.logical_to_mesh_axes(("batch",), rules))


def _init_fns(model: nn.Module, tx: optax.GradientTransformation, example_batch: dict):
  shapes = {k: (tuple(v.shape), v.dtype) for k, v in example_batch.items()}

  def init_params(key):
    # Zeros of the batch's shapes, made inside the trace: only shapes matter to init.
    batch = {k: jnp.zeros(s, d) for k, (s, d) in shapes.items()}
    k_params, k_cond, k_drop = jax.random.split(key, 3)
    return model.init({"params": k_params, "cond": k_cond, "dropout": k_drop}, batch,
                      deterministic=True)["params"]

  def init_state(key):
    params = nn.meta.unbox(init_params(key))
    return {"params": params, "opt_state": tx.init(params), "step": jnp.zeros((), jnp.int32),
            "rng": jax.random.fold_in(key, 1)}

  return init_params, init_state


def state_shardings(model: nn.Module, tx: optax.GradientTransformation, example_batch: dict,
                    mesh: Mesh, rules) -> dict:
  """NamedShardings of the train state, from the logical names (no parameters are created)."""
  init_params, _ = _init_fns(model, tx, example_batch)
  with jax.set_mesh(mesh), nn.logical_axis_rules(rules):
    abstract = jax.eval_shape(init_params, jax.random.PRNGKey(0))
  specs = param_specs(abstract, rules)
  abstract_params = nn.meta.unbox(abstract)
  specs = jax.tree.map(lambda a, s: _fit_spec(a.shape, s, mesh), abstract_params, specs,
                       is_leaf=lambda x: isinstance(x, P))
  abstract_opt = jax.eval_shape(tx.init, abstract_params)
  opt_specs = jax.tree_util.tree_map_with_path(
      _param_spec_lookup(abstract_params, specs), abstract_opt)
  state_specs = {"params": specs, "opt_state": opt_specs, "step": P(), "rng": P()}
  return jax.tree.map(lambda s: NamedSharding(mesh, s), state_specs,
                      is_leaf=lambda x: isinstance(x, P))


def init_train_state(model: nn.Module, tx: optax.GradientTransformation, example_batch: dict,
                     mesh: Mesh, rules, seed: int) -> tuple[dict, dict]:
  """Initialise `{"params", "opt_state", "step", "rng"}` directly sharded.

  example_batch: dict of `jax.ShapeDtypeStruct`/arrays with global shapes.
  Returns (state, state_shardings).
  """
  shardings = state_shardings(model, tx, example_batch, mesh, rules)
  _, init_state = _init_fns(model, tx, example_batch)
  with jax.set_mesh(mesh), nn.logical_axis_rules(rules):
    state = jax.jit(init_state, out_shardings=shardings)(jax.random.PRNGKey(seed))
  return state, shardings


def abstract_train_state(model: nn.Module, tx: optax.GradientTransformation, example_batch: dict,
                         mesh: Mesh, rules) -> tuple[dict, dict]:
  """(`jax.ShapeDtypeStruct`s of the train state with their shardings, the shardings): for
  compiling and memory-planning a step without allocating any parameter."""
  shardings = state_shardings(model, tx, example_batch, mesh, rules)
  _, init_state = _init_fns(model, tx, example_batch)
  with jax.set_mesh(mesh), nn.logical_axis_rules(rules):
    shapes = jax.eval_shape(init_state, jax.random.PRNGKey(0))
  return jax.tree.map(lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s), shapes,
                      shardings), shardings


def to_global_batch(local_batch: dict, sharding: NamedSharding) -> dict:
  """This host's slice of the batch (numpy) -> global jax.Arrays sharded on the batch axis."""
  return {k: jax.make_array_from_process_local_data(sharding, np.asarray(v))
          for k, v in local_batch.items()}


def num_params(params) -> int:
  return int(sum(np.prod(p.shape) for p in jax.tree.leaves(params)))
