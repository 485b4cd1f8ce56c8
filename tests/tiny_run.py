"""A work directory laid out as training leaves it, for generation tests."""

import flax.linen as nn
import jax
import jax.numpy as jnp

from vmas_jax.config_defaults import tiny_config
from vmas_jax.build import build_model
from vmas_jax.train import checkpoint as ckpt
from vmas_jax.train.memory_data import make_example_batch


def make_run_dir(wd, *, text: bool = False):
  """config.json + an Orbax checkpoint of freshly initialised tiny VMAS params in `wd` (a real
  run is covered by the training tests); `text`: a text + video model."""
  c = tiny_config()
  c.text.enabled = text
  model = build_model(c)
  batch = make_example_batch(c, 1, seed=0)
  params = jax.jit(lambda: nn.unbox(model.init(jax.random.key(0), batch))["params"])()
  wd.mkdir(parents=True, exist_ok=True)
  (wd / "config.json").write_text(c.to_json_best_effort())
  manager = ckpt.make_manager(wd, keep=1, async_save=False)
  ckpt.save(manager, 1, {"params": params, "step": jnp.int32(1)}, {})
  manager.wait_until_finished()
  manager.close()
  return wd
