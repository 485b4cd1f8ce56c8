"""`vmas convert` on a HF EnCodec directory, and `load_converted` of the result."""

import json

import jax
import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from vmas_jax.cli import main  # noqa: E402
from vmas_jax.convert import from_hf, load_converted  # noqa: E402
from vmas_jax.models.codec import EncodecConfig, EncodecModel  # noqa: E402

pytestmark = pytest.mark.usefixtures("torch_one_thread")


def _save_tiny_hf(path):
  torch.manual_seed(0)
  fields = {k: v for k, v in EncodecConfig.tiny().to_hf_config().items()
            if k not in ("model_type", "architectures")}
  transformers.EncodecModel(transformers.EncodecConfig(**fields)).save_pretrained(path)


def test_convert_codec_and_load_back(tmp_path, capsys):
  hf_dir, out = tmp_path / "hf", tmp_path / "out"
  _save_tiny_hf(hf_dir)
  assert main(["convert", "--from", str(hf_dir), "--out", str(out)]) == 0
  assert "converted encodec (EncodecModel" in capsys.readouterr().out
  meta = json.loads((out / "model.json").read_text())
  assert meta["model_type"] == "encodec" and meta["hf_config"]["num_filters"] == 4
  assert (out / "params").is_dir()

  module, variables = load_converted(out)
  ref_module, ref_vars = from_hf(hf_dir)
  assert isinstance(module, EncodecModel) and module.config == ref_module.config
  jax.tree.map(lambda a, b: np.testing.assert_array_equal(np.asarray(a), np.asarray(b)),
               variables, ref_vars)
  wav = np.random.default_rng(0).standard_normal((1, 1500)).astype(np.float32) * 0.3
  encode = jax.jit(lambda v, w: module.apply(v, w, method="encode"))
  np.testing.assert_array_equal(encode(variables, wav), encode(ref_vars, wav))

  # A second convert into the same OUT refuses to overwrite.
  assert main(["convert", "--from", str(hf_dir), "--out", str(out)]) == 1
  assert "already exists" in capsys.readouterr().err


def test_convert_errors(tmp_path, capsys):
  assert main(["convert", "--from", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 1
  assert "no such model directory" in capsys.readouterr().err
  bad = tmp_path / "bad"
  bad.mkdir()
  (bad / "config.json").write_text(json.dumps({"model_type": "bert"}))
  assert main(["convert", "--from", str(bad), "--out", str(tmp_path / "o")]) == 1
  assert "model_type 'bert' is not supported" in capsys.readouterr().err
  with pytest.raises(FileNotFoundError, match="model.json"):
    load_converted(tmp_path)
