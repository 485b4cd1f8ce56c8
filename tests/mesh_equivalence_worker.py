"""Run in a subprocess with 8 fake CPU devices (see test_train_sharding.py).

One step's loss and gradients on meshes (8,1,1), (2,2,2), (1,8,1) must equal the 1-device
result; parameter shardings must be what the logical-axis rules ask for.
"""

import json
import sys

import jax
import numpy as np
from jax.sharding import PartitionSpec as P

sys.path.insert(0, "tests")
from standin_model import StandIn  # noqa: E402
from train_support import standin_config  # noqa: E402

from vmas_jax.sharding import make_mesh  # noqa: E402
from vmas_jax.train import memory_data, state as st  # noqa: E402
from vmas_jax.train.step import make_loss_fn  # noqa: E402


def make_eval_loss(model, loss_config, mesh, rules):
  """Jitted `(params, batch, rng) -> (loss, metrics, grads)` on `mesh`."""
  import flax.linen as nn
  fn = jax.jit(jax.value_and_grad(make_loss_fn(model, loss_config), has_aux=True))

  def run(params, batch, rng):
    with jax.set_mesh(mesh), nn.logical_axis_rules(rules):
      (loss, metrics), grads = fn(params, batch, rng)
    return loss, metrics, grads
  return run


def run(mesh_shape, devices, model, config, batch, ref_params=None):
  """Loss and grads on a mesh; params initialised sharded, or `ref_params` resharded."""
  mesh = make_mesh(mesh_shape, devices=devices)
  rules = st.rules_from_config(config)
  tx, _ = st.make_optimizer(config.optim, config.total_steps)
  if ref_params is None:
    state, _ = st.init_train_state(model, tx, batch, mesh, rules, config.seed)
    params = state["params"]
    mu_specs = jax.tree.map(lambda x: x.sharding.spec, state["opt_state"][1][0].mu)
  else:  # one sharded init is enough to test; the others reuse the reference values
    shardings = st.state_shardings(model, tx, batch, mesh, rules)
    params = jax.device_put(ref_params, shardings["params"])
    mu_specs = jax.tree.map(lambda s: s.spec, shardings["opt_state"][1][0].mu)
  gbatch = {k: jax.device_put(v, st.batch_sharding(mesh, rules)) for k, v in batch.items()}
  loss, metrics, grads = make_eval_loss(model, config.loss, mesh, rules)(
      params, gbatch, jax.random.PRNGKey(3))
  specs = jax.tree.map(lambda x: x.sharding.spec, params)
  assert mu_specs == specs, "Adam moments are not sharded like their parameters"
  return (float(loss), jax.device_get(metrics), jax.device_get(grads), jax.device_get(params),
          specs, params)


def vmas_setup():
  """The real tiny VMAS (pre-extracted features, so the frame backbone is not compiled)."""
  from vmas_jax.config_utils import load_config
  from vmas_jax.build import build_model
  config = load_config("tiny", [
      "--config.codec.codebook_size=64", "--config.decoder.vocab_size=64",
      "--config.data.clip_seconds=0.5", "--config.video.use_features=True",
      "--config.data.frames_format=features", "--config.data.global_batch_size=8"])
  model = build_model(config)
  batch = memory_data.make_example_batch(config, 8, seed=1,
                                         feature_dim=model.video_encoder.feature_dim)
  return config, model, batch


def check_vmas_specs(specs, params, shape):
  """The logical-axis rules on the real model's parameters."""
  data, fsdp, tensor = shape
  dec = specs["decoder"]
  assert dec["lm_heads"] == P(None, "fsdp", "tensor"), dec["lm_heads"]  # codebooks embed vocab
  assert dec["embed"] == P(None, None if tensor > 1 else "tensor", "fsdp")  # vocab 65: odd
  assert specs["music_proj"]["kernel"] == P("fsdp", "tensor")
  heads = params["decoder"]["lm_heads"]
  assert heads.addressable_shards[0].data.shape == (4, 64 // fsdp, 64 // tensor)


def main():
  assert jax.device_count() == 8, jax.device_count()
  if sys.argv[1:] == ["vmas"]:
    config, model, batch = vmas_setup()
  else:
    config = standin_config()
    config.data.global_batch_size = 8
    model = StandIn(vocab=16, d=16, contrastive_dim=8)
    batch = memory_data.make_example_batch(config, 8, seed=1)
  ref_loss, ref_m, ref_g, ref_p, _, _ = run((1, 1, 1), jax.devices()[:1], model, config, batch)
  report = {}
  for shape in [(2, 2, 2), (8, 1, 1), (1, 8, 1)]:
    loss, m, g, p, specs, params = run(shape, jax.devices(), model, config, batch,
                                       ref_params=None if shape == (2, 2, 2) else ref_p)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=0, atol=1e-6), p, ref_p)
    assert np.isfinite(ref_loss) and np.isfinite(loss), (ref_loss, loss)
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-5, atol=1e-5)
    for k in ("loss_ar", "loss_contrastive", "loss_beat"):
      np.testing.assert_allclose(m[k], ref_m[k], rtol=1e-5, atol=1e-5)
    # fp32 "within 1e-5": |a - b| <= 1e-5 + 1e-5 |b| per element (summation order differs).
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5), g, ref_g)
    err = max(jax.tree.leaves(jax.tree.map(lambda a, b: float(np.max(np.abs(a - b))), g, ref_g)))
    scale = max(jax.tree.leaves(jax.tree.map(lambda b: float(np.max(np.abs(b))), ref_g)))
    data, fsdp, tensor = shape
    if sys.argv[1:] == ["vmas"]:
      check_vmas_specs(specs, params, shape)
      report[str(shape)] = {"loss_diff": abs(loss - ref_loss), "max_grad_diff": err,
                            "max_grad": scale}
      continue
    # The rules: embed -> fsdp, mlp -> tensor, vocab -> tensor (vocab 17 is not divisible by
    # tensor > 1, so it falls back to replicated), norm -> replicated.
    assert specs["mlp"]["fc1"]["kernel"] == P("fsdp", "tensor"), specs["mlp"]["fc1"]["kernel"]
    assert specs["mlp"]["fc2"]["kernel"] == P("tensor", "fsdp")
    assert specs["heads"]["kernel"] == P("fsdp", None, "tensor")
    assert specs["embed"]["embedding"] == P(None if tensor > 1 else "tensor", "fsdp")
    assert specs["ln"]["scale"] == P(None)
    fc1 = params["mlp"]["fc1"]["kernel"]
    assert fc1.addressable_shards[0].data.shape == (16 // fsdp, 32 // tensor)
    report[str(shape)] = {"loss_diff": abs(loss - ref_loss), "max_grad_diff": err,
                         "max_grad": scale}
  print("RESULT " + json.dumps(report))


if __name__ == "__main__":
  main()
