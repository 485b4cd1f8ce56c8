"""Checkpoints are untrusted: pickles load with weights_only=True, code-carrying ones are refused
by `from_hf`, `vmas convert` and the audiocraft importers unless the caller opts in."""

import argparse
import json

import jax
import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from vmas_jax.cli import main  # noqa: E402
from vmas_jax.convert import UnsafeCheckpointError, from_hf  # noqa: E402
from vmas_jax.convert.encodec import import_audiocraft  # noqa: E402
from vmas_jax.convert.hf_io import load_weights_file  # noqa: E402
from vmas_jax.models.codec import EncodecConfig  # noqa: E402

pytestmark = pytest.mark.usefixtures("torch_one_thread")


class _Payload:
  """Unpickling this creates the file `path` (a stand-in for any code a pickle can run)."""

  def __init__(self, path):
    self.path = str(path)

  def __reduce__(self):
    return (open, (self.path, "w"))


@pytest.fixture(scope="module")
def tiny_codec(tmp_path_factory):
  """A HF EnCodec directory (safetensors) and its state dict as torch tensors."""
  path = tmp_path_factory.mktemp("hf")
  torch.manual_seed(0)
  fields = {k: v for k, v in EncodecConfig.tiny().to_hf_config().items()
            if k not in ("model_type", "architectures")}
  transformers.EncodecModel(transformers.EncodecConfig(**fields)).save_pretrained(path)
  sd = {k: torch.tensor(v) for k, v in load_weights_file(path / "model.safetensors").items()}
  return path, sd


def _pickled_dir(tmp_path, tiny_codec, extra):
  """The same model with its weights in pytorch_model.bin, plus `extra` objects pickled in."""
  src, sd = tiny_codec
  d = tmp_path / "model"
  d.mkdir()
  (d / "config.json").write_text((src / "config.json").read_text())
  torch.save(dict(sd, **extra), d / "pytorch_model.bin")
  return d


def _same(a, b):
  jax.tree.map(lambda x, y: np.testing.assert_array_equal(np.asarray(x), np.asarray(y)), a, b)


def test_payload_is_refused_and_never_runs(tmp_path, tiny_codec, capsys):
  marker = tmp_path / "payload_ran"
  d = _pickled_dir(tmp_path, tiny_codec, {"payload": _Payload(marker)})
  with pytest.raises(UnsafeCheckpointError, match="safetensors") as e:
    from_hf(d)
  assert "pytorch_model.bin" in str(e.value) and "trust_remote_pickle=True" in str(e.value)
  assert not marker.exists()
  assert main(["convert", "--from", str(d), "--out", str(tmp_path / "out")]) == 1
  err = capsys.readouterr().err
  assert "refused to unpickle" in err and "--trust-pickle" in err
  assert not marker.exists() and not (tmp_path / "out" / "params").exists()


def test_plain_tensor_pickle_loads_by_default(tmp_path, tiny_codec):
  d = _pickled_dir(tmp_path, tiny_codec, {})
  _same(from_hf(d)[1], from_hf(tiny_codec[0])[1])


def test_trusted_pickle_opt_in(tmp_path, tiny_codec):
  """A benign non-tensor object (like audiocraft's pickled config) needs the opt-in."""
  d = _pickled_dir(tmp_path, tiny_codec, {"cfg": argparse.Namespace(lr=0.1)})
  with pytest.raises(UnsafeCheckpointError):
    from_hf(d)
  _same(from_hf(d, trust_remote_pickle=True)[1], from_hf(tiny_codec[0])[1])
  assert main(["convert", "--from", str(d), "--out", str(tmp_path / "out"),
               "--trust-pickle"]) == 0


def test_audiocraft_file_follows_the_same_rule(tmp_path, tiny_codec):
  """audiocraft wraps its weights with a pickled training config: refused unless trusted."""
  src, sd = tiny_codec
  config = json.loads((src / "config.json").read_text())
  path = tmp_path / "compression_state_dict.bin"
  torch.save({"best_state": sd, "xp.cfg": argparse.Namespace(sample_rate=32000)}, path)
  with pytest.raises(UnsafeCheckpointError, match="compression_state_dict.bin"):
    import_audiocraft(path, config)
  _same(import_audiocraft(path, config, trust_remote_pickle=True)[1], from_hf(src)[1])
