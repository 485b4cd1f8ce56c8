import av
import numpy as np
import pytest

from vmas_jax.data.errors import MediaError
from vmas_jax.data.mux import mux_music


def _make_video(path, seconds=1.0, fps=10, size=32, with_audio=True):
  with av.open(str(path), "w") as c:
    v = c.add_stream("libx264", rate=fps)
    v.width = v.height = size
    v.pix_fmt = "yuv420p"
    a = c.add_stream("aac", rate=16000, layout="mono") if with_audio else None
    for i in range(int(seconds * fps)):
      img = np.full((size, size, 3), (i * 20) % 255, np.uint8)
      for p in v.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
        c.mux(p)
    c.mux(v.encode(None))
    if a is not None:
      f = av.AudioFrame.from_ndarray(np.zeros((1, 16000), np.float32), format="flt", layout="mono")
      f.sample_rate, f.pts = 16000, 0
      c.mux(a.encode(f))
      c.mux(a.encode(None))


def test_mux_replaces_audio_and_keeps_video(tmp_path):
  src = tmp_path / "in.mp4"
  _make_video(src, seconds=1.0)
  sr = 32000
  t = np.arange(int(1.5 * sr)) / sr  # longer than the video: trimmed
  wav = 0.5 * np.sin(2 * np.pi * 440 * t).astype(np.float32)
  out = mux_music(src, wav, sr, tmp_path / "out.mp4")
  with av.open(str(out)) as c:
    assert len(c.streams.video) == 1 and len(c.streams.audio) == 1
    assert c.streams.audio[0].sample_rate == sr
    n_frames = sum(1 for _ in c.decode(video=0))
  with av.open(str(out)) as c:
    pcm = np.concatenate([f.to_ndarray().reshape(-1) for f in c.decode(audio=0)])
  assert n_frames == 10
  assert abs(pcm.size / sr - 1.0) < 0.1  # trimmed to the video's duration (+ codec padding)
  assert np.abs(pcm).max() > 0.3  # the tone is there
  assert not list(tmp_path.glob("*.part*"))


def test_mux_errors_name_the_file(tmp_path):
  bad = tmp_path / "text.mp4"
  bad.write_text("not a video")
  with pytest.raises(MediaError, match="text.mp4"):
    mux_music(bad, np.zeros(10), 32000, tmp_path / "o.mp4")
  with pytest.raises(MediaError, match="no video stream"):
    audio_only = tmp_path / "a.m4a"
    with av.open(str(audio_only), "w", format="mp4") as c:
      a = c.add_stream("aac", rate=16000, layout="mono")
      f = av.AudioFrame.from_ndarray(np.zeros((1, 4000), np.float32), format="flt", layout="mono")
      f.sample_rate, f.pts = 16000, 0
      c.mux(a.encode(f))
      c.mux(a.encode(None))
    mux_music(audio_only, np.zeros(10), 32000, tmp_path / "o.mp4")
