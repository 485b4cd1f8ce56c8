"""The named configurations: `vmas train --config tiny` (or `--config tiny:ARG`) loads
`vmas_jax/configs/tiny.py`, from any directory; see `vmas_jax.config_utils.load_config`."""
