import pytest

from vmas_jax import cli
from vmas_jax.config_utils import apply_overrides, load_config


def test_config_overrides_typed():
  c = load_config("tiny", ["--config.total_steps=7", "--config.mesh_shape=(2,2,2)",
                                      "--config.optim.learning_rate=3", "--config.decoder.scan_layers=false"])
  assert c.total_steps == 7 and c.mesh_shape == (2, 2, 2)
  assert c.optim.learning_rate == 3.0 and isinstance(c.optim.learning_rate, float)
  assert c.decoder.scan_layers is False


def test_config_unknown_field_is_an_error():
  c = load_config("tiny")
  with pytest.raises(KeyError, match="no field"):
    apply_overrides(c, ["--config.not_a_field=1"])


def test_missing_config_file_named():
  with pytest.raises(FileNotFoundError, match="nope.py"):
    load_config("configs/nope.py")


@pytest.mark.parametrize("size", ["tiny", "small", "medium", "large", "demo",
                                  "finetune_small_t4"])
def test_all_configs_load(size):
  c = load_config(f"configs/{size}.py")
  assert c.decoder.d_model % c.decoder.num_heads == 0


def test_cli_without_command_exits_2(capsys):
  assert cli.main([]) == 2


def test_a_run_saved_before_a_field_keeps_the_behaviour_it_had():
  from vmas_jax.config_defaults import base_config
  from vmas_jax.config_utils import with_defaults
  saved = base_config("tiny").to_dict()
  assert with_defaults(saved).model.beat_lookahead == 4  # today's default
  del saved["model"]["beat_lookahead"]  # saved before beat lookahead existed
  assert with_defaults(saved).model.beat_lookahead == 0
