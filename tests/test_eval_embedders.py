"""VGGish and LAION-CLAP audio embeddings: parity with their PyTorch references on random
weights (front ends included), and `vmas eval` with each on local random-weights files."""

import json

import jax
import numpy as np
import pytest

from eval_audio import noise_bursts, tones
from vmas_jax import cli

torch = pytest.importorskip("torch")

# CLAP, tiny: 1 s windows of 16 mel bins at 48 kHz -> a 64 x 64 image, 2 Swin stages of
# windows of 8 (stage 0 has a shifted block), projection to 12.
CLAP_AUDIO = dict(spec_size=64, num_mel_bins=16, patch_embeds_hidden_size=8, depths=[2, 2],
                  num_attention_heads=[2, 4], window_size=8, hidden_size=16)
CLAP_FEATURES = dict(feature_size=16, sampling_rate=48000, max_length_s=1, frequency_min=50,
                     frequency_max=14000, truncation="rand_trunc", padding="repeatpad")


def _randomize(model, scale=0.2):
  """Perturb every parameter and buffer (LayerNorm, BatchNorm statistics and the relative
  position tables included) so that a wrong mapping cannot pass."""
  gen = torch.Generator().manual_seed(0)
  with torch.no_grad():
    for _, p in model.named_parameters():
      p.add_(torch.randn(p.shape, generator=gen) * scale)
    for name, b in model.named_buffers():
      if name.endswith("running_mean"):
        b.copy_(torch.randn(b.shape, generator=gen))
      elif name.endswith("running_var"):
        b.copy_(torch.rand(b.shape, generator=gen) + 0.5)
  return model.eval()


def _vggish_reference():
  """torchvggish's VGG (its published conv stack and forward) with random weights; its
  4096-wide FC layers are narrowed to 256 to keep the test fast."""
  tv = pytest.importorskip("torchvggish.torchvggish")
  model = tv._vgg(postprocess=False)
  model.embeddings = torch.nn.Sequential(
      torch.nn.Linear(512 * 4 * 6, 256), torch.nn.ReLU(True), torch.nn.Linear(256, 256),
      torch.nn.ReLU(True), torch.nn.Linear(256, 32), torch.nn.ReLU(True))
  gen = torch.Generator().manual_seed(1)
  with torch.no_grad():
    for p in model.parameters():  # He-scaled, so activations neither vanish nor explode
      fan_in = p[0].numel() if p.ndim > 1 else 1
      p.copy_(torch.randn(p.shape, generator=gen) * (2.0 / fan_in) ** 0.5)
  return model.eval()


@pytest.fixture(scope="module")
def vggish_pth(tmp_path_factory):
  model = _vggish_reference()
  path = tmp_path_factory.mktemp("vggish") / "vggish.pth"
  torch.save(model.state_dict(), path)
  return model, path


@pytest.fixture(scope="module")
def clap_dir(tmp_path_factory):
  from transformers import ClapAudioConfig, ClapConfig, ClapFeatureExtractor, ClapModel
  from transformers import ClapTextConfig
  text = ClapTextConfig(vocab_size=50, hidden_size=8, num_hidden_layers=1,
                        num_attention_heads=2, intermediate_size=16)
  config = ClapConfig(text_config=text.to_dict(), audio_config=ClapAudioConfig(
      **CLAP_AUDIO).to_dict(), projection_dim=12)
  model = _randomize(ClapModel(config))
  directory = tmp_path_factory.mktemp("clap")
  model.save_pretrained(directory)
  extractor = ClapFeatureExtractor(**CLAP_FEATURES)
  extractor.save_pretrained(directory)
  return model, extractor, directory


def _rel(ours, ref):
  ours, ref = np.asarray(ours, np.float64), np.asarray(ref, np.float64)
  return np.abs(ours - ref).max() / np.abs(ref).max()


def test_vggish_matches_torchvggish(vggish_pth):
  from torchvggish import vggish_input
  from vmas_jax.convert.vggish import load_vggish
  from vmas_jax.eval.vggish_input import examples
  model, path = vggish_pth
  wav = tones(2.5, seed=1) + noise_bursts(2.5, seed=2)
  ref_examples = vggish_input.waveform_to_examples(wav.astype(np.float64), 16000,
                                                   return_tensor=False)
  ours_examples = examples(wav)
  assert ours_examples.shape == ref_examples.shape == (2, 96, 64)
  np.testing.assert_allclose(ours_examples, ref_examples, rtol=0, atol=1e-5)
  assert examples(wav[:300]).shape == (1, 96, 64)  # shorter than a frame: repeated to fill one

  x = torch.tensor(ref_examples, dtype=torch.float32)[:, None]
  with torch.no_grad():
    ref_relu = model(x).numpy()
    flat = torch.flatten(model.features(x).permute(0, 2, 3, 1), 1)  # as VGG.forward
    ref_embedding = model.embeddings[:-1](flat).numpy()
  module, variables = load_vggish(path)
  out = jax.jit(module.apply)(variables, ours_examples)
  assert out["embedding"].shape == (2, 32) and (ref_embedding < 0).any()
  assert _rel(out["embedding"], ref_embedding) < 1e-4
  assert _rel(out["relu"], ref_relu) < 1e-4


def test_clap_audio_matches_transformers(clap_dir):
  from vmas_jax.convert.clap import load_clap
  model, extractor, directory = clap_dir
  rng = np.random.default_rng(0)
  # shorter than a window (repeat-padded) and exactly one window: the extractor's
  # deterministic paths
  wavs = [0.1 * rng.standard_normal(30000), tones(1.0, sr=48000, seed=3, amplitude=0.3)]
  features = extractor(wavs, sampling_rate=48000, return_tensors="pt")
  with torch.no_grad():
    pooled = model.audio_model(**features).pooler_output
    ref = {"pooled": pooled, "embeds": model.audio_projection(pooled),
           "normalized": model.get_audio_features(**features).pooler_output}
  module, variables, front_end = load_clap(directory)
  ours_features = np.concatenate([front_end.windows(w) for w in wavs])
  assert ours_features.shape == (2, 101, 16)
  np.testing.assert_allclose(ours_features, features["input_features"][:, 0].numpy(),
                             rtol=0, atol=1e-4)  # dB
  out = jax.jit(module.apply)(variables, ours_features)
  for key, want in ref.items():
    assert _rel(out[key], want.numpy()) < 1e-4, key


def test_clap_fusion_checkpoints_are_refused():
  from vmas_jax.convert.clap import module_from_hf_config
  with pytest.raises(ValueError, match="fusion.*not supported"):
    module_from_hf_config({"model_type": "clap", "audio_config": {"enable_fusion": True}})


def test_vmas_eval_with_vggish_and_clap(tmp_path, vggish_pth, clap_dir, monkeypatch, capsys):
  ref, gen, cache = tmp_path / "ref", tmp_path / "gen", tmp_path / "cache"
  ref.mkdir(), gen.mkdir()
  from vmas_jax.data.audio_io import write_wav
  for i, make in enumerate([tones, noise_bursts, tones]):
    write_wav(ref / f"{i}.wav", make(2.0, seed=i), 16000)
    write_wav(gen / f"{i}.wav", make(2.0, seed=i + 10), 16000)
  base = ["eval", "--generated", str(gen), "--reference", str(ref), "--cache-dir", str(cache)]
  keys = []
  for name, weights in [("vggish", vggish_pth[1]), ("clap", clap_dir[2])]:
    assert cli.main(base + ["--embedding", name, "--embedding-weights", str(weights)]) == 0
    report = json.loads((gen / "eval_report.json").read_text())
    assert report["embedding"].startswith(name + "-") and report["fad"] > 0
    assert report["kl"] is None and len(report["items"]) == 3
    assert all(it["windows"] == 2 for it in report["items"])  # 2 s: 2 examples / windows
    keys.append(report["embedding"])
  # one cache folder per model and weights, 6 files each
  assert sorted(p.name for p in cache.iterdir()) == sorted(keys)
  assert all(len(list((cache / k).glob("*.npz"))) == 6 for k in keys)

  # no weights offline: exit 2 naming what is missing
  monkeypatch.setenv("VMAS_EVAL_WEIGHTS", str(tmp_path / "no_weights"))
  import huggingface_hub.constants
  monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
  capsys.readouterr()
  assert cli.main(base + ["--embedding", "vggish"]) == 2
  assert "vggish-10086976.pth" in capsys.readouterr().err
  assert cli.main(base + ["--embedding", "clap"]) == 2
  err = capsys.readouterr().err
  assert "laion/larger_clap_music" in err and "--embedding-weights" in err
