"""The `large` VMAS configuration.

  vmas train --config large --workdir /tmp/vmas_large
"""

from vmas_jax.config_defaults import base_config


def get_config(arg: str | None = None):
  del arg
  return base_config("large")
