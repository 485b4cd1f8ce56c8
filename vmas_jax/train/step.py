"""The jitted train step: loss, gradients (with accumulation), AdamW update, NaN/Inf guard."""

from __future__ import annotations

from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from jax.sharding import NamedSharding

from vmas_jax import losses


def _microbatches(batch: dict, n: int) -> dict:
  """[B, ...] -> [n, B/n, ...] with microbatch a = rows a, a+n, a+2n, ...

  Strided (not contiguous) so every microbatch still spans every data shard.
  """
  def split(x):
    if x.shape[0] % n:
      raise ValueError(f"batch of {x.shape[0]} is not divisible into {n} microbatches")
    return x.reshape(x.shape[0] // n, n, *x.shape[1:]).swapaxes(0, 1)
  return jax.tree.map(split, batch)


def make_loss_fn(model: nn.Module, loss_config) -> Callable:
  """(params, batch, rng) -> (loss, metrics): one teacher-forced forward, training mode."""
  def loss_fn(params, batch, rng):
    k_drop, k_cond = jax.random.split(rng)
    outputs = model.apply({"params": params}, batch, deterministic=False,
                          rngs={"dropout": k_drop, "cond": k_cond})
    return losses.vmas_loss(outputs, batch, loss_config)
  return loss_fn


def make_grad_fn(model: nn.Module, loss_config, accum_steps: int = 1) -> Callable:
  """(params, batch, rng) -> (grads, metrics), averaging over `accum_steps` microbatches.

  With accumulation the contrastive negatives are those of each microbatch.
  """
  grad_fn = jax.value_and_grad(make_loss_fn(model, loss_config), has_aux=True)

  def single(params, batch, rng):
    (_, metrics), grads = grad_fn(params, batch, rng)
    return grads, metrics

  if accum_steps == 1:
    return single

  def accumulated(params, batch, rng):
    micro = _microbatches(batch, accum_steps)
    rngs = jax.random.split(rng, accum_steps)

    def body(acc, xs):
      mb, r = xs
      grads, metrics = single(params, mb, r)
      return jax.tree.map(jnp.add, acc, (grads, metrics)), None

    zeros_g = jax.tree.map(jnp.zeros_like, params)
    first = jax.tree.map(lambda x: x[0], micro)
    zeros_m = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype),
                           jax.eval_shape(single, params, first, rngs[0])[1])
    (g, m), _ = jax.lax.scan(body, (zeros_g, zeros_m), (micro, rngs))
    return jax.tree.map(lambda x: x / accum_steps, (g, m))

  return accumulated


def make_train_step(model: nn.Module, tx: optax.GradientTransformation, schedule, config,
                    state_shardings, batch_sharding: NamedSharding, mesh, rules) -> Callable:
  """Jitted `(state, batch) -> (state, metrics)`, state donated, shardings explicit.

  A non-finite loss or gradient norm leaves params and optimiser state as they were (the step
  counter still advances, so the data moves on); `metrics["finite"]` tells the loop, which
  raises under `nan_policy="stop"`.
  """
  grad_fn = make_grad_fn(model, config.loss, config.optim.grad_accum_steps)

  def step(state, batch):
    rng = jax.random.fold_in(state["rng"], state["step"])
    grads, metrics = grad_fn(state["params"], batch, rng)
    grad_norm = optax.global_norm(grads)
    updates, opt_state = tx.update(grads, state["opt_state"], state["params"])
    params = optax.apply_updates(state["params"], updates)
    finite = jnp.isfinite(metrics["loss"]) & jnp.isfinite(grad_norm)
    keep = lambda new, old: jax.tree.map(lambda n, o: jnp.where(finite, n, o), new, old)
    new_state = {"params": keep(params, state["params"]),
                 "opt_state": keep(opt_state, state["opt_state"]),
                 "step": state["step"] + 1, "rng": state["rng"]}
    metrics = dict(metrics, grad_norm=grad_norm, lr=schedule(state["step"]), finite=finite,
                   param_norm=optax.global_norm(new_state["params"]))
    return new_state, metrics

  jitted = jax.jit(step, in_shardings=(state_shardings, batch_sharding),
                   out_shardings=(state_shardings, None), donate_argnums=0)

  def run(state, batch):
    # The logical-axis constraints inside the modules resolve against this mesh and rules.
    with jax.set_mesh(mesh), nn.logical_axis_rules(rules):
      return jitted(state, batch)

  run.jitted = jitted
  return run
