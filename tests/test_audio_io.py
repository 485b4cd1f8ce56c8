"""Audio I/O on files this test makes with PyAV: containers, codecs, downmix, resampling, and
bad files (no audio, empty, truncated, text renamed .mp4, missing)."""

import av
import numpy as np
import pytest

from vmas_jax.data.audio_io import audio_info, load_audio, write_wav
from vmas_jax.data.errors import MediaError

SR = 32000


def _tone(rate, seconds, freq, amp=0.5):
  t = np.arange(int(rate * seconds)) / rate
  return amp * np.sin(2 * np.pi * freq * t)


def _write(path, acodec, rate, wav, vcodec=None):
  """wav [C, T] float -> `path` with one audio stream (and a 4-frame video stream)."""
  layout = "mono" if wav is None or wav.shape[0] == 1 else "stereo"
  with av.open(str(path), "w") as c:
    if acodec:
      a = c.add_stream(acodec, rate=rate, layout=layout)
    if vcodec:
      v = c.add_stream(vcodec, rate=4)
      v.width, v.height, v.pix_fmt = 64, 64, "yuv420p"
    if acodec:
      frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(wav, np.float32), format="fltp",
                                         layout=layout)
      frame.sample_rate, frame.pts = rate, 0
      for packet in [*a.encode(frame), *a.encode(None)]:
        c.mux(packet)
    if vcodec:
      for i in range(4):
        vf = av.VideoFrame.from_ndarray(np.full((64, 64, 3), 40 * i, np.uint8), format="rgb24")
        vf.pts = i
        for packet in v.encode(vf):
          c.mux(packet)
      for packet in v.encode(None):
        c.mux(packet)
  return path


@pytest.fixture(scope="module")
def media(tmp_path_factory):
  d = tmp_path_factory.mktemp("media")
  st44 = np.stack([_tone(44100, 1.0, 440), _tone(44100, 1.0, 1000, 0.2)])  # L 440, R 1 kHz
  st48 = np.stack([_tone(48000, 1.0, 440)] * 2)
  files = {
      "wav": _write(d / "a.wav", "pcm_s16le", 44100, st44),
      "flac": _write(d / "a.flac", "flac", 48000, st48[:1]),
      "mp3": _write(d / "a.mp3", "libmp3lame", 44100, st44),
      "ogg": _write(d / "a.ogg", "libopus", 48000, st48),
      "m4a": _write(d / "a.m4a", "aac", 44100, st44[:1]),
      "mp4": _write(d / "a.mp4", "aac", 44100, st44, "libx264"),
      "webm": _write(d / "a.webm", "libopus", 48000, st48, "libvpx"),
      "mkv": _write(d / "a.mkv", "flac", 44100, st44, "mpeg4"),
      "video_only": _write(d / "v.mp4", None, 0, None, "libx264"),
  }
  return d, files


def _peak_hz(wav, rate):
  spec = np.abs(np.fft.rfft(wav * np.hanning(len(wav))))
  return np.fft.rfftfreq(len(wav), 1 / rate)[spec.argmax()]


def test_lossless_resample_and_downmix_match_analytic(media):
  _, f = media
  # Stereo 44.1 kHz wav -> 32 kHz mono = the mean of the two channels.
  wav = load_audio(f["wav"], SR)
  assert wav.dtype == np.float32 and wav.ndim == 1 and len(wav) == SR
  want = 0.5 * (_tone(SR, 1.0, 440) + _tone(SR, 1.0, 1000, 0.2))
  mid = slice(1000, SR - 1000)  # away from the resampler's edge transients
  assert np.abs(wav[mid] - want[mid]).max() < 2e-3
  # Mono 48 kHz flac -> 32 kHz.
  wav = load_audio(f["flac"], SR)
  assert len(wav) == SR
  assert np.abs(wav[mid] - _tone(SR, 1.0, 440)[mid]).max() < 2e-3


def test_start_and_duration(media):
  _, f = media
  wav = load_audio(f["flac"], SR, start=0.25, duration=0.5)
  assert len(wav) == SR // 2
  t = 0.25 + np.arange(SR // 2) / SR
  want = 0.5 * np.sin(2 * np.pi * 440 * t)
  assert np.abs(wav[500:-500] - want[500:-500]).max() < 2e-3
  with pytest.raises(MediaError, match="past the end"):
    load_audio(f["flac"], SR, start=5.0)


@pytest.mark.parametrize("kind", ["mp3", "ogg", "m4a", "mp4", "webm", "mkv"])
def test_containers_and_codecs(media, kind):
  _, f = media
  wav = load_audio(f[kind], SR)
  assert wav.dtype == np.float32 and wav.ndim == 1
  # Lossy codecs add encoder delay / padding: about one second, tone at 440 Hz at the
  # loudness of the source's mono mix (the stereo 44.1 kHz files also hold a quieter 1 kHz).
  assert abs(len(wav) / SR - 1.0) < 0.1, len(wav) / SR
  assert abs(_peak_hz(wav, SR) - 440) < 5
  stereo_44k = kind in ("mp3", "mp4", "mkv")
  want_rms = np.sqrt(0.25 ** 2 / 2 + 0.1 ** 2 / 2) if stereo_44k else 0.5 / np.sqrt(2)
  rms = np.sqrt(np.mean(wav[SR // 4:3 * SR // 4] ** 2))
  assert abs(rms / want_rms - 1) < 0.1, (rms, want_rms)


def test_audio_info(media):
  _, f = media
  info = audio_info(f["wav"])
  assert (info.sample_rate, info.channels) == (44100, 2) and abs(info.duration - 1.0) < 1e-3
  info = audio_info(f["webm"])
  assert (info.sample_rate, info.channels) == (48000, 2) and abs(info.duration - 1.0) < 0.05
  with pytest.raises(MediaError, match="no audio stream"):
    audio_info(f["video_only"])


def test_write_wav_round_trip(tmp_path):
  wav = _tone(SR, 0.5, 300).astype(np.float32)
  path = write_wav(tmp_path / "sub" / "out.wav", wav, SR)
  back = load_audio(path, SR)
  assert len(back) == len(wav) and np.abs(back - wav).max() < 1e-4  # 16-bit quantization
  assert audio_info(path).sample_rate == SR


def test_bad_files(media, tmp_path):
  d, f = media
  with pytest.raises(MediaError, match=r"v\.mp4: no audio stream"):
    load_audio(f["video_only"], SR)
  empty = tmp_path / "empty.wav"
  empty.write_bytes(b"")
  with pytest.raises(MediaError, match="empty.wav: empty file"):
    load_audio(empty, SR)
  text = tmp_path / "notes.mp4"
  text.write_text("this is not a video\n" * 20)
  with pytest.raises(MediaError, match="notes.mp4: not a readable media file"):
    load_audio(text, SR)
  with pytest.raises(MediaError, match="missing.mp3: no such file"):
    load_audio(tmp_path / "missing.mp3", SR)


# Each format's truncation shows differently: WAV by its RIFF size, FLAC by bad frame data,
# MKV/WebM by fewer samples than declared, MP4/M4A by their index (at the end) going missing.
@pytest.mark.parametrize("kind", ["wav", "flac", "mkv", "webm", "m4a", "mp4"])
def test_truncated_files(media, tmp_path, kind):
  _, f = media
  data = f[kind].read_bytes()
  cut = tmp_path / f"cut.{kind}"
  cut.write_bytes(data[:int(0.4 * len(data))])
  with pytest.raises(MediaError, match=rf"cut\.{kind}: .*(truncated|not a readable)"):
    load_audio(cut, SR)
