"""Codec train state and the jitted train step.

State: `{"params": {"encoder", "decoder"}, "vq": {"embed", "count", "sums"}, "opt_state",
"step", "rng"}` -- the codebooks live in `vq` (EMA-updated, no gradients), the SEANet weights
in `params` (AdamW) -- and, with `config.disc.enabled`, `"disc"` and `"disc_opt_state"`: the
discriminator (`codec_disc`) and its Adam state.  `codec_variables(state)` gives
`EncodecModel` variables.

With `config.weight_norm` (as SEANet is trained), every conv kernel `[k, C_in, C_out]` is
trained as a direction `kernel_v` and a per-output-channel length `kernel_g [C_out]`
(kernel = g * v / ||v||); the model itself only knows the folded kernel.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax
from jax.sharding import NamedSharding, PartitionSpec as P

from vmas_jax.models.codec import EncodecModel
from vmas_jax.models.codec_init import init_codec
from vmas_jax.train import codec_disc, codec_losses, codec_vq


def split_weight_norm(params: dict) -> dict:
  """Each conv `kernel [k, C_in, C_out]` -> `kernel_v` (itself, or 1 for an all-zero output
  channel) and `kernel_g` (its norm over k and C_in); other leaves unchanged."""
  out = {}
  for key, value in params.items():
    if isinstance(value, dict):
      out[key] = split_weight_norm(value)
    elif key == "kernel" and value.ndim == 3:
      norm = jnp.sqrt(jnp.sum(jnp.square(value), axis=(0, 1)))
      out["kernel_v"] = jnp.where(norm > 0, value, 1.0)  # a zero channel: g = 0, v any
      out["kernel_g"] = norm
    else:
      out[key] = value
  return out


def fold_weight_norm(params: dict) -> dict:
  """Inverse of `split_weight_norm`: `kernel = g * v / ||v||` (identity on plain params)."""
  out = {}
  for key, value in params.items():
    if isinstance(value, dict):
      out[key] = fold_weight_norm(value)
    elif key == "kernel_v":
      v = value
      out["kernel"] = params["kernel_g"] * v / jnp.sqrt(jnp.sum(jnp.square(v), axis=(0, 1)))
    elif key != "kernel_g":
      out[key] = value
  return out


def init_codec_state(cfg, tx: optax.GradientTransformation, seed: int,
                     weight_norm: bool = False, config=None) -> dict:
  """Random SEANet weights (`init_codec`), codebooks to be seeded from the first batch; with
  a codec-training `config` whose `disc.enabled`, a random discriminator and its optimiser
  state."""
  _, variables = init_codec(cfg, seed=seed)
  params = {k: v for k, v in variables["params"].items() if k != "codebooks"}
  if weight_norm:
    params = split_weight_norm(params)
  state = {"params": params, "vq": codec_vq.init_vq_state(variables["params"]["codebooks"]),
           "opt_state": tx.init(params), "step": jnp.zeros((), jnp.int32),
           "rng": jax.random.PRNGKey(seed)}
  if config is not None and config.disc.enabled:
    state["disc"] = codec_disc.init_discriminator(make_discriminator(config.disc), seed + 1)
    state["disc_opt_state"] = disc_optimizer(config).init(state["disc"])
  return state


def make_discriminator(disc_config) -> codec_disc.MultiScaleSTFTDiscriminator:
  return codec_disc.MultiScaleSTFTDiscriminator(tuple(disc_config.scales),
                                                int(disc_config.filters))


def disc_optimizer(config) -> optax.GradientTransformation:
  """Adam for the discriminator: `disc.learning_rate`, the optimiser's b1, b2 and clipping."""
  optim = config.optim
  return optax.chain(
      optax.clip_by_global_norm(optim.grad_clip) if optim.grad_clip > 0 else optax.identity(),
      optax.adam(config.disc.learning_rate, b1=optim.b1, b2=optim.b2))


def codec_variables(state: dict) -> dict:
  """`EncodecModel` variables of a codec train state (or a loaded checkpoint of one)."""
  return {"params": {**fold_weight_norm(state["params"]), "codebooks": state["vq"]["embed"]}}


def make_codec_loss_fn(module: EncodecModel, config):
  """(params, vq, wav[B, T], rng, disc params | None, adversarial on: bool []) ->
  (loss, (new vq, metrics, reconstruction [B, T]))."""
  sr = module.config.sample_rate
  disc = make_discriminator(config.disc) if config.disc.enabled else None

  def loss_fn(params, vq, wav, rng, disc_params=None, adversarial=False):
    variables = {"params": {**fold_weight_norm(params),
                            "codebooks": jax.lax.stop_gradient(vq["embed"])}}
    z = module.apply(variables, wav[..., None], method=lambda m, x: m.encoder(x))
    zq, _, new_vq, metrics = codec_vq.quantize_train(
        vq, z, rng, decay=config.vq.decay, dead_code_fraction=config.vq.dead_code_fraction)
    recon = module.apply(variables, zq, method=lambda m, x: m.decoder(x))[..., 0]
    recon = recon[:, :wav.shape[1]]
    rec, parts = codec_losses.reconstruction_losses(wav, recon, config.loss, sr)
    loss = rec + config.vq.commitment_weight * metrics["commitment"]
    if disc is not None:  # the discriminator's parameters are constants here
      real = disc.apply({"params": disc_params}, wav)
      fake = disc.apply({"params": disc_params}, recon)
      adv, feat = codec_disc.generator_losses(real, fake)
      on = jnp.asarray(adversarial, jnp.float32)
      loss = loss + on * (config.disc.adv_weight * adv + config.disc.feat_weight * feat)
      metrics.update(g_adv=adv, g_feat=feat)
    metrics.update(parts, loss=loss, log_mel_l1=codec_losses.log_mel_l1(wav, recon, sr))
    return loss, (new_vq, metrics, recon)

  return loss_fn


def make_codec_train_step(module: EncodecModel, tx, schedule, config, mesh,
                          batch_sharding: NamedSharding):
  """`step(state, wav) -> (state, metrics)`, jitted on `mesh`: state replicated, the batch
  laid out by `batch_sharding`; a non-finite loss or gradient keeps the old state."""
  grad_fn = jax.value_and_grad(make_codec_loss_fn(module, config), has_aux=True)
  adversarial = config.disc.enabled
  if adversarial:
    disc = make_discriminator(config.disc)
    disc_tx = disc_optimizer(config)

    def disc_loss(disc_params, wav, recon):
      return codec_disc.discriminator_loss(disc.apply({"params": disc_params}, wav),
                                           disc.apply({"params": disc_params}, recon))

  def step(state, wav):
    rng = jax.random.fold_in(state["rng"], state["step"])
    on = state["step"] >= config.disc.start_step
    (loss, (new_vq, metrics, recon)), grads = grad_fn(
        state["params"], state["vq"], wav, rng, state.get("disc"), on)
    updates, opt_state = tx.update(grads, state["opt_state"], state["params"])
    params = optax.apply_updates(state["params"], updates)
    grad_norm = optax.global_norm(grads)
    finite = jnp.isfinite(loss) & jnp.isfinite(grad_norm)
    new = {"params": params, "vq": new_vq, "opt_state": opt_state,
           "step": state["step"] + 1, "rng": state["rng"]}
    if adversarial:  # one discriminator step on this batch and its (constant) reconstruction
      d_loss, d_grads = jax.value_and_grad(disc_loss)(state["disc"], wav,
                                                      jax.lax.stop_gradient(recon))
      # before start_step its gradients are zero: Adam then leaves it where it was
      d_grads = jax.tree.map(lambda g: jnp.where(on, g, 0.0), d_grads)
      d_updates, new["disc_opt_state"] = disc_tx.update(d_grads, state["disc_opt_state"],
                                                        state["disc"])
      new["disc"] = optax.apply_updates(state["disc"], d_updates)
      finite = finite & jnp.isfinite(d_loss)
      metrics.update(d_loss=d_loss)
    # the skipped step still counts, so the data stream and the schedule stay aligned
    new = jax.tree.map(lambda a, b: jnp.where(finite, a, b), new, {**state, "step": new["step"]})
    metrics.update(grad_norm=grad_norm, lr=schedule(state["step"]), finite=finite)
    return new, metrics

  replicated = NamedSharding(mesh, P())
  return jax.jit(step, in_shardings=(replicated, batch_sharding), out_shardings=(replicated, replicated),
                 donate_argnums=0)
