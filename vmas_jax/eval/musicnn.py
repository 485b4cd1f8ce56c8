"""musicnn (Pons & Serra 2019) in Flax: the MTT / MSD music taggers and their embeddings.

Same graph as the `musicnn` package's TensorFlow model (`models.build_musicnn`), in inference
mode; weights come from the checkpoints in its wheel (`vmas_jax.convert.musicnn`).

  wav 16 kHz --log-mel (512-pt FFT, hop 256, 96 mels, log10(1 + 10^4 mel))--> patches [N, 187, 96]
  front end: BN -> timbral convs (7 x 38, 7 x 67 over time x mel, 204 maps each, max over mel)
                 + temporal convs (128, 64, 32 x 1, 51 maps each, max over mel)  -> [N, 187, 561]
  mid end:   3 convs of 7 frames (64 maps), the last two residual; dense concat -> [N, 187, 753]
  back end:  max and mean over time (753 each) -> BN -> dense 200 + ReLU -> BN (penultimate)
             -> dense (tags) -> sigmoid

A patch is 3 s (187 frames); a clip is cut into non-overlapping patches as the package does.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

SAMPLE_RATE = 16000
FFT_SIZE = 512
FFT_HOP = 256
N_MELS = 96
PATCH_FRAMES = 187  # librosa.time_to_frames(3 s) + 1, as the package computes it
BN_EPSILON = 1e-3   # tf.compat.v1.layers.batch_normalization's default

MTT_LABELS = (
    "guitar", "classical", "slow", "techno", "strings", "drums", "electronic", "rock", "fast",
    "piano", "ambient", "beat", "violin", "vocal", "synth", "female", "indian", "opera", "male",
    "singing", "vocals", "no vocals", "harpsichord", "loud", "quiet", "flute", "woman",
    "male vocal", "no vocal", "pop", "soft", "sitar", "solo", "man", "classic", "choir", "voice",
    "new age", "dance", "male voice", "female vocal", "beats", "harp", "cello", "no voice",
    "weird", "country", "metal", "female voice", "choral")
MSD_LABELS = (
    "rock", "pop", "alternative", "indie", "electronic", "female vocalists", "dance", "00s",
    "alternative rock", "jazz", "beautiful", "metal", "chillout", "male vocalists",
    "classic rock", "soul", "indie rock", "Mellow", "electronica", "80s", "folk", "90s", "chill",
    "instrumental", "punk", "oldies", "blues", "hard rock", "ambient", "acoustic",
    "experimental", "female vocalist", "guitar", "Hip-Hop", "70s", "party", "country",
    "easy listening", "sexy", "catchy", "funk", "electro", "heavy metal", "Progressive rock",
    "60s", "rnb", "indie pop", "sad", "House", "happy")
LABELS = {"MTT_musicnn": MTT_LABELS, "MSD_musicnn": MSD_LABELS}


def log_mel(wav: np.ndarray) -> np.ndarray:
  """wav [T] float at 16 kHz -> log-compressed mel spectrogram [frames, 96] float32.

  librosa's mel power spectrogram (centred frames, Hann window), then log10(10000 x + 1)
  computed in float16 as the package does (the models were trained on float16 spectrograms).
  One deliberate difference: where 10000 x overflows float16 (mel power > 6.55, loud tonal
  peaks) the package gets inf and the network NaN; here it saturates at float16's maximum.
  """
  import librosa
  mel = librosa.feature.melspectrogram(y=np.asarray(wav, np.float32), sr=SAMPLE_RATE,
                                       hop_length=FFT_HOP, n_fft=FFT_SIZE, n_mels=N_MELS).T
  with np.errstate(over="ignore"):
    scaled = np.minimum(np.float16(10000) * mel.astype(np.float16), np.finfo(np.float16).max)
  return np.log10(scaled + np.float16(1)).astype(np.float32)


def patches(mel: np.ndarray, frames: int = PATCH_FRAMES) -> np.ndarray:
  """[F, 96] -> non-overlapping patches [N, frames, 96] (the tail shorter than a patch is
  dropped, as the package does).  A clip shorter than one patch is repeated to fill one."""
  if mel.shape[0] == 0:
    raise ValueError("no audio frames")
  if mel.shape[0] < frames:
    mel = np.tile(mel, (-(-frames // mel.shape[0]), 1))[:frames]
  n = (mel.shape[0] - frames) // frames + 1
  return np.stack([mel[i * frames:(i + 1) * frames] for i in range(n)])


def _batch_norm(name: str):
  return nn.BatchNorm(use_running_average=True, epsilon=BN_EPSILON, name=name)


class _Block(nn.Module):
  """conv -> ReLU -> BN -> max over the mel axis: [N, T, 96, 1] -> [N, T', filters]."""
  filters: int
  kernel: tuple[int, int]
  padding: str

  @nn.compact
  def __call__(self, x):
    x = nn.relu(nn.Conv(self.filters, self.kernel, padding=self.padding, name="conv")(x))
    return _batch_norm("bn")(x).max(axis=2)


class _MidConv(nn.Module):
  """Time conv over all channels, 'same' by zero padding 3 frames each side: [N,T,C] -> [N,T,F]."""
  filters: int

  @nn.compact
  def __call__(self, x):
    x = jnp.pad(x, ((0, 0), (3, 3), (0, 0)))
    return _batch_norm("bn")(nn.relu(nn.Conv(self.filters, (7,), padding="VALID",
                                             name="conv")(x)))


class Musicnn(nn.Module):
  """`__call__(mel_patches [N, T, 96]) -> dict` of

  tags [N, C] (sigmoid), logits [N, C], penultimate [N, units], mean_pool [N, 753],
  max_pool [N, 753] (753 = 561 front-end + 3 x 64 mid-end maps, for mid-end width 64).
  """
  num_classes: int = 50
  midend_filters: int = 64
  backend_units: int = 200
  frontend_scale: float = 1.6

  @nn.compact
  def __call__(self, x):
    x = _batch_norm("input_bn")(x[..., None].astype(jnp.float32))  # [N, T, 96, 1]
    timbral = int(self.frontend_scale * 128)
    temporal = int(self.frontend_scale * 32)
    padded = jnp.pad(x, ((0, 0), (3, 3), (0, 0), (0, 0)))
    front = [
        _Block(timbral, (7, int(0.4 * N_MELS)), "VALID", name="timbral_74")(padded),
        _Block(timbral, (7, int(0.7 * N_MELS)), "VALID", name="timbral_77")(padded),
        _Block(temporal, (128, 1), "SAME", name="temporal_128")(x),
        _Block(temporal, (64, 1), "SAME", name="temporal_64")(x),
        _Block(temporal, (32, 1), "SAME", name="temporal_32")(x),
    ]
    front = jnp.concatenate(front, axis=-1)  # [N, T, 561]
    mid1 = _MidConv(self.midend_filters, name="midend_1")(front)
    mid2 = _MidConv(self.midend_filters, name="midend_2")(mid1) + mid1
    mid3 = _MidConv(self.midend_filters, name="midend_3")(mid2) + mid2
    features = jnp.concatenate([front, mid1, mid2, mid3], axis=-1)  # [N, T, 753]

    max_pool, mean_pool = features.max(axis=1), features.mean(axis=1)
    # TF concatenates [N, 753, 1] pools on the last axis and flattens: max, mean interleaved.
    pooled = jnp.stack([max_pool, mean_pool], axis=-1).reshape(max_pool.shape[0], -1)
    pooled = _batch_norm("pool_bn")(pooled)
    hidden = nn.relu(nn.Dense(self.backend_units, name="dense")(pooled))
    penultimate = _batch_norm("dense_bn")(hidden)
    logits = nn.Dense(self.num_classes, name="logits")(penultimate)
    return dict(tags=jax.nn.sigmoid(logits), logits=logits, penultimate=penultimate,
                mean_pool=mean_pool, max_pool=max_pool)
