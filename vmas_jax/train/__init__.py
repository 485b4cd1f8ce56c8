"""Sharded, exactly-resumable training.

  train(config, workdir)            run / resume a training job
  load_checkpoint(workdir, step)    the saved state: {"params", "opt_state", "step", "rng"}
"""

from vmas_jax.train.checkpoint import load_checkpoint
from vmas_jax.train.loop import train

__all__ = ["train", "load_checkpoint"]
