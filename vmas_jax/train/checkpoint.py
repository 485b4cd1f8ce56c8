"""Orbax checkpoints under WORKDIR/checkpoints/<step>/: train state + data-iterator state.

Two items per step: `state` (params, optimiser state, step, RNG; sharded arrays, saved
asynchronously) and `data` (each process's iterator state as JSON, written by every process
under its own name, as Grain's own handler does, so multi-host input resumes exactly).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import jax
import orbax.checkpoint as ocp
from etils import epath


class IteratorStateHandler(ocp.CheckpointHandler):
  """Saves a snapshot (JSON-able dict) of this process's data-iterator state."""

  def save(self, directory: epath.Path, args: "IteratorStateSave"):
    name = f"process_{jax.process_index()}-of-{jax.process_count()}.json"
    (directory / name).write_text(json.dumps(args.state))

  def restore(self, directory: epath.Path, args: "IteratorStateRestore | None" = None):
    name = f"process_{jax.process_index()}-of-{jax.process_count()}.json"
    path = directory / name
    if not path.exists():
      raise FileNotFoundError(f"{path}: no data-iterator state for this process (was the "
                              f"checkpoint written with a different number of processes?)")
    return json.loads(path.read_text())

  def metadata(self, directory):
    return None

  def structure(self, directory):
    return None

  def finalize(self, directory):
    pass

  def close(self):
    pass


@ocp.args.register_with_handler(IteratorStateHandler, for_save=True)
@dataclasses.dataclass
class IteratorStateSave(ocp.args.CheckpointArgs):
  state: Any


@ocp.args.register_with_handler(IteratorStateHandler, for_restore=True)
@dataclasses.dataclass
class IteratorStateRestore(ocp.args.CheckpointArgs):
  pass


def checkpoint_dir(workdir) -> epath.Path:
  """WORKDIR/checkpoints; epath, so gs:// work directories work as well as local ones."""
  return epath.Path(workdir) / "checkpoints"


def make_manager(workdir, keep: int, *, async_save: bool = True) -> ocp.CheckpointManager:
  options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=True,
                                         enable_async_checkpointing=async_save)
  return ocp.CheckpointManager(checkpoint_dir(workdir).absolute(), options=options,
                               item_names=("state", "data"))


def save(manager: ocp.CheckpointManager, step: int, state: dict, data_state: dict | None,
         *, force: bool = False) -> bool:
  """Starts an (async) save; the data state is a host-side snapshot taken now."""
  return manager.save(step, args=ocp.args.Composite(
      state=ocp.args.StandardSave(state), data=IteratorStateSave(data_state or {})), force=force)


def restore(manager: ocp.CheckpointManager, step: int, abstract: dict) -> tuple[dict, dict]:
  """(state laid out as `abstract`'s shardings, this process's data-iterator state)."""
  out = manager.restore(step, args=ocp.args.Composite(
      state=ocp.args.StandardRestore(abstract), data=IteratorStateRestore()))
  return out["state"], out["data"]


def load_checkpoint(workdir, step: int | None = None) -> dict:
  """The saved train state `{"params", "opt_state", "step", "rng"}` on one device.

  No model or mesh needed: array shapes come from the checkpoint's metadata.
  step None -> the latest.  Raises FileNotFoundError naming the directory when there is none.
  """
  directory = checkpoint_dir(workdir)
  if not directory.is_dir():
    raise FileNotFoundError(f"{directory}: no checkpoint directory")
  manager = ocp.CheckpointManager(
      directory.absolute(), item_handlers={"state": ocp.StandardCheckpointHandler()},
      options=ocp.CheckpointManagerOptions(read_only=True))
  try:
    step = manager.latest_step() if step is None else step
    if step is None or step not in manager.all_steps():
      raise FileNotFoundError(f"{directory}: no checkpoint"
                              + ("" if step is None else f" for step {step}"))
    meta = manager.item_metadata(step)["state"]
    meta = getattr(meta, "tree", meta)
    device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
    abstract = jax.tree.map(lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype, sharding=device),
                            meta)
    out = manager.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract)))
    return dict(out["state"])
  finally:
    manager.close()
