"""Logical axis names -> mesh axes.

The mesh has axes (`data`, `fsdp`, `tensor`). Parameters and activations are annotated with
logical names (see `vmas_jax.layers`); the rules below (overridable from the config as
`config.logical_axis_rules`) say which mesh axes each logical name is split over.
"""

from __future__ import annotations

from typing import Sequence

import jax
import numpy as np
from jax.sharding import Mesh

MESH_AXES = ("data", "fsdp", "tensor")

# Batch over data+fsdp; weights split over fsdp on their model-width axis and over tensor on
# heads / mlp / vocab (Megatron style). Anything not listed is replicated.
DEFAULT_RULES: tuple[tuple[str, str | tuple[str, ...] | None], ...] = (
    ("batch", ("data", "fsdp")),
    ("length", None),
    ("frames", None),
    ("embed", "fsdp"),
    ("mlp", "tensor"),
    ("heads", "tensor"),
    ("kv", None),
    ("vocab", "tensor"),
    ("codebooks", None),
    ("norm", None),
    ("layers", None),
    ("conv_in", None),
    ("conv_out", None),
)


def make_mesh(mesh_shape: Sequence[int], devices=None) -> Mesh:
  """A (data, fsdp, tensor) mesh; a -1 entry takes the remaining devices.

  Axes are `Auto` (the compiler propagates shardings from the constraints Linen's logical
  annotations place), not JAX's newer default `Explicit`, under which every
  `with_logical_constraint` would be an assertion on the inferred sharding.
  """
  devices = jax.devices() if devices is None else devices
  shape = list(mesh_shape)
  if shape.count(-1) > 1:
    raise ValueError(f"mesh_shape {tuple(mesh_shape)} has more than one -1")
  known = int(np.prod([s for s in shape if s != -1]))
  if -1 in shape:
    shape[shape.index(-1)] = len(devices) // known
  if int(np.prod(shape)) != len(devices):
    raise ValueError(f"mesh_shape {tuple(mesh_shape)} needs {int(np.prod(shape))} devices; "
                     f"{len(devices)} are available")
  return jax.make_mesh(tuple(shape), MESH_AXES, devices=devices,
                       axis_types=(jax.sharding.AxisType.Auto,) * len(MESH_AXES))
