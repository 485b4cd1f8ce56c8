"""The `medium` VMAS configuration.

  vmas train --config medium --workdir /tmp/vmas_medium
"""

from vmas_jax.config_defaults import base_config


def get_config(arg: str | None = None):
  del arg
  return base_config("medium")
