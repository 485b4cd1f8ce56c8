"""The `tiny` VMAS configuration: every part shrunk so a laptop CPU trains it in seconds.

  vmas train --config tiny --workdir /tmp/vmas_tiny

Uses the bundled trained codec (vmas_jax/assets/codec), a randomly initialised tiny frame
backbone and a small synthetic dataset (built on first use), so it needs no downloads.
"""

from vmas_jax.config_defaults import tiny_config


def get_config(arg: str | None = None):
  del arg
  return tiny_config()
