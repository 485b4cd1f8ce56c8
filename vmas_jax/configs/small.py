"""The `small` VMAS configuration.

  vmas train --config small --workdir /tmp/vmas_small
"""

from vmas_jax.config_defaults import base_config


def get_config(arg: str | None = None):
  del arg
  return base_config("small")
