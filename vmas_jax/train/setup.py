"""`setup_training(config)`: everything a train step needs, built one way for the training
loop (`vmas_jax.train.loop`) and the benchmarks (`vmas_jax.bench.train`).

  mesh + rules -> model (finetune-wrapped) -> batch spec -> optimiser -> sharded state ->
  jitted step, and the model FLOPs of one step (for MFU)
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

from jax.sharding import Mesh, NamedSharding

from vmas_jax.data.batch_spec import batch_spec
from vmas_jax.sharding import make_mesh
from vmas_jax.train import finetune, metrics as metrics_lib, state as state_lib
from vmas_jax.train.step import make_train_step


@dataclasses.dataclass
class TrainingSetup:
  model: Any                   # the (finetune-wrapped) module
  mesh: Mesh
  rules: tuple
  batch_sharding: NamedSharding
  example: dict                # batch_spec of one global batch (ShapeDtypeStructs)
  shardings: dict              # NamedShardings of the train state
  num_params: int
  schedule: Callable
  train_step: Callable         # jitted (state, global batch) -> (state, metrics)
  feature_dim: int | None      # the frame backbone's width (pre-extracted features)
  config: Any                  # the config it was built from

  @property
  def tokens_per_step(self) -> int:
    """Audio tokens (B * K * F) of one global batch."""
    b, k, f = self.example["codes"].shape
    return b * k * f

  def flops_per_step(self) -> float:
    """Model FLOPs of one training step (forward + backward; `model_flops_per_step`)."""
    b, k, f = self.example["codes"].shape
    dec = self.config.decoder
    positions = f + k - 1  # the delayed sequence the decoder reads
    return metrics_lib.model_flops_per_step(self.num_params, b * positions, dec.num_layers,
                                            dec.d_model, positions)

def feature_dim(model) -> int | None:
  """The frame backbone's width of a VMAS model (None for stand-ins without one)."""
  return getattr(getattr(model, "video_encoder", None), "feature_dim", None)


def setup_training(config, model=None, *, total_steps: int | None = None,
                   abstract: bool = False) -> tuple[TrainingSetup, dict]:
  """(the mesh, shardings and jitted step of `config`, the sharded train state
  {"params", "opt_state", "step", "rng"}).

  model: default `build_model(config)` wrapped for the config's fine-tuning (random init;
  `load_pretrained` is the caller's next step); a given model is used as it is.  total_steps: the schedule's length
  (default config.total_steps).  abstract: the state as ShapeDtypeStructs (nothing
  allocated), for compiling and memory plans.
  """
  mesh = make_mesh(config.mesh_shape)
  rules = state_lib.rules_from_config(config)
  bsh = state_lib.batch_sharding(mesh, rules)
  if model is None:
    from vmas_jax.build import build_model
    model = finetune.wrap_model(build_model(config), config)
  dim = feature_dim(model)
  example = batch_spec(config, config.data.global_batch_size, dim,
                       sharding=bsh if abstract else None)
  tx, schedule = state_lib.make_optimizer(config.optim, total_steps or config.total_steps)
  tx = finetune.wrap_optimizer(tx, config)
  if abstract:
    state, shardings = state_lib.abstract_train_state(model, tx, example, mesh, rules)
  else:
    state, shardings = state_lib.init_train_state(model, tx, example, mesh, rules, config.seed)
  step = make_train_step(model, tx, schedule, config, shardings, bsh, mesh, rules)
  setup = TrainingSetup(model=model, mesh=mesh, rules=rules, batch_sharding=bsh,
                        example=example, shardings=shardings,
                        num_params=state_lib.num_params(state["params"]), schedule=schedule,
                        train_step=step, feature_dim=dim, config=config)
  return setup, state
