"""Video decoding on files made here with PyAV: codecs, VFR, rotation, tiny/short, bad files."""

import numpy as np
import pytest

from media_fixtures import frame_index, level_frames, write_audio_only, write_video
from vmas_jax.data import video_io
from vmas_jax.data.errors import MediaError
from vmas_jax.data.video_io import iter_frame_chunks, probe_video, read_clip, read_frames


@pytest.mark.parametrize("name,codec", [("a.mp4", "libx264"), ("a.webm", "libvpx-vp9"),
                                        ("a.avi", "mpeg4")])
def test_codecs_decode_at_target_fps(tmp_path, name, codec):
  path = write_video(tmp_path / name, level_frames(10), codec=codec, rate=10,
                     options={"qscale": "2"} if codec == "mpeg4" else {"crf": "10"})
  info = probe_video(path)
  assert (info.width, info.height, info.has_video, info.has_audio) == (64, 48, True, False)
  assert info.fps == pytest.approx(10, rel=0.05)
  assert info.duration == pytest.approx(1.0, abs=0.12)
  frames, times = read_frames(path, fps=5, size=32)
  assert frames.shape == (5, 32, 32, 3) and frames.dtype == np.uint8
  np.testing.assert_allclose(times, [0, .2, .4, .6, .8], atol=1e-6)
  assert [frame_index(f) for f in frames] == [0, 2, 4, 6, 8]


def test_variable_frame_rate_uses_timestamps(tmp_path):
  pts = [0.0, 0.1, 0.15, 0.6, 0.7, 1.5]
  path = write_video(tmp_path / "vfr.mp4", level_frames(6), times=pts)
  frames, times = read_frames(path, fps=10, size=16, duration=1.5)
  np.testing.assert_allclose(times, np.arange(15) / 10, atol=1e-6)
  # Latest frame with pts <= t for t = 0, .1, ..., 1.4
  want = [max(i for i, p in enumerate(pts) if p <= t + 1e-9) for t in np.arange(15) / 10]
  assert [frame_index(f) for f in frames] == want


def test_rotation_metadata_is_applied(tmp_path):
  img = np.zeros((32, 64, 3), np.uint8)
  img[:, :32] = 255  # stored frame: left half white
  path = write_video(tmp_path / "rot.mp4", [img] * 3, rotation=90)
  info = probe_video(path)
  assert (info.width, info.height, info.rotation) == (32, 64, 90)
  frames, _ = read_frames(path, fps=10, size=32)
  # Displayed = stored turned 90 degrees counter-clockwise: the white half is at the bottom.
  f = frames[0].astype(float)
  assert f[:12].mean() < 30 and f[-12:].mean() > 225


def test_tiny_and_short_videos(tmp_path):
  path = write_video(tmp_path / "tiny.mp4", level_frames(3, 16, 16))
  frames, _ = read_frames(path, fps=10, size=32)  # upscaled
  assert frames.shape == (3, 32, 32, 3)
  assert [frame_index(f) for f in frames] == [0, 1, 2]
  short = write_video(tmp_path / "short.mp4", level_frames(5), rate=25)  # 0.2 s
  frames, times = read_frames(short, fps=8, size=16)
  np.testing.assert_allclose(times, [0, 0.125])
  assert [frame_index(f) for f in frames] == [0, 3]
  # A fixed-length clip pads past the end and masks the padding.
  frames, times, mask = read_clip(short, start=0.0, seconds=1.0, fps=8, size=16)
  assert frames.shape == (8, 16, 16, 3) and mask.tolist() == [True] * 2 + [False] * 6
  np.testing.assert_allclose(times, np.arange(8) / 8)
  assert frames[2:].max() == 0


def test_seek_range_and_chunks(tmp_path, monkeypatch):
  path = write_video(tmp_path / "long.mp4", level_frames(40), rate=10,
                     options={"crf": "10", "g": "10"})
  frames, times = read_frames(path, fps=10, size=16, start=2.0, duration=1.0)
  np.testing.assert_allclose(times, 2.0 + np.arange(10) / 10, atol=1e-6)
  assert [frame_index(f) for f in frames] == list(range(20, 30))
  # Seeking: a late range decodes from the keyframe before it, not from the file start.
  decoded = []
  real = video_io.decoded_frames
  def counting(*a):
    for f in real(*a):
      decoded.append(f.pts)
      yield f
  monkeypatch.setattr(video_io, "decoded_frames", counting)
  frames, _ = read_frames(path, fps=10, size=16, start=3.2, duration=0.5)
  assert [frame_index(f) for f in frames] == list(range(32, 37))
  assert 5 <= len(decoded) <= 10 + 6, len(decoded)
  monkeypatch.undo()
  full, full_t = read_frames(path, fps=5, size=16)
  chunks = list(iter_frame_chunks(path, fps=5, size=16, chunk_seconds=3.0))
  assert [len(c[0]) for c in chunks] == [15, 5]
  np.testing.assert_array_equal(np.concatenate([c[0] for c in chunks]), full)
  np.testing.assert_array_equal(np.concatenate([c[1] for c in chunks]), full_t)


def test_audio_only_has_no_video_stream(tmp_path):
  path = write_audio_only(tmp_path / "audio.mp4")
  with pytest.raises(MediaError, match="audio.mp4: no video stream"):
    probe_video(path)
  with pytest.raises(MediaError, match="no video stream"):
    read_frames(path, fps=8, size=16)


@pytest.mark.parametrize("name", ["zero.mkv", "zero.mp4"])
def test_zero_frames(tmp_path, name):
  path = write_video(tmp_path / name, [], codec="libx264")
  with pytest.raises(MediaError, match=f"{name}: .*zero frames"):
    read_frames(path, fps=8, size=16)


def test_truncated_files(tmp_path):
  path = write_video(tmp_path / "full.mp4", level_frames(20))
  data = path.read_bytes()
  cut = tmp_path / "cut.mp4"
  cut.write_bytes(data[: len(data) // 2])  # moov index at the end is lost
  with pytest.raises(MediaError, match="cut.mp4: truncated or corrupt"):
    read_frames(cut, fps=8, size=16)
  webm = write_video(tmp_path / "full.webm", level_frames(20), codec="libvpx-vp9",
                     options={"crf": "10"})
  data = webm.read_bytes()
  part = tmp_path / "part.webm"
  part.write_bytes(data[: int(len(data) * 0.6)])  # streamable: the head still decodes
  frames, times = read_frames(part, fps=10, size=16)
  assert 3 <= len(frames) < 20
  assert [frame_index(f) for f in frames] == list(range(len(frames)))
  head = tmp_path / "head.webm"
  head.write_bytes(data[:200])
  with pytest.raises(MediaError, match="head.webm"):
    read_frames(head, fps=10, size=16)


def test_empty_and_text_files(tmp_path):
  empty = tmp_path / "empty.mp4"
  empty.write_bytes(b"")
  with pytest.raises(MediaError, match="empty.mp4: empty file"):
    read_frames(empty, fps=8, size=16)
  text = tmp_path / "notes.mp4"
  text.write_text("this is not a video\n" * 20)
  with pytest.raises(MediaError, match="notes.mp4: not a media file"):
    probe_video(text)
  with pytest.raises(MediaError, match="no such file"):
    probe_video(tmp_path / "missing.mp4")
