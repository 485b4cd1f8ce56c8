"""Real-world media: every codec PyAV decodes gets a music video of the source's duration and
rotation (copied or re-encoded), damaged data follows the documented rule, and a batch with one
file of each kind finishes and reports every file."""

import json
import warnings
from fractions import Fraction

import av
import numpy as np
import pytest

from media_fixtures import level_frames, write_audio_only, write_video
from tiny_run import make_run_dir
from vmas_jax import cli
from vmas_jax.data import batch, tfds_builder
from vmas_jax.data.errors import MediaError
from vmas_jax.data.mux import mux_music
from vmas_jax.data.video_io import PartialDecodeWarning, decoded_frames, open_video, read_frames

# name -> (video codec, pixel format, frame rate, frames, rotation, audio codec, output codec)
CASES = {
    "mjpeg.mov": ("mjpeg", "yuvj420p", 10, 20, None, "aac", "mjpeg"),
    "mpeg4_12fps.avi": ("mpeg4", "yuv420p", 12, 24, None, "libmp3lame", "mpeg4"),
    "msvideo1.avi": ("msvideo1", "rgb555le", 10, 20, None, "vorbis", "h264"),
    "cinepak_rot90.mov": ("cinepak", "rgb24", Fraction(15, 2), 15, 90, "aac", "h264"),
    "vp9.webm": ("libvpx-vp9", "yuv420p", 10, 20, None, "vorbis", "vp9"),
    "vp9.avi": ("libvpx-vp9", "yuv420p", 10, 20, None, None, "vp9"),
    "h264_rot90_2997.mp4": ("libx264", "yuv420p", Fraction(30000, 1001), 60, 90, "aac", "h264"),
}


def _video_facts(path):
  """(codec, video duration s, decodable frames, rotation, audio duration s or None)."""
  with open_video(path) as (c, v), warnings.catch_warnings():
    warnings.simplefilter("ignore", PartialDecodeWarning)
    frames = list(decoded_frames(c, v, path))
    duration = float(v.duration * v.time_base) if v.duration else c.duration / 1e6
    a = c.streams.audio[0] if c.streams.audio else None
    audio = float(a.duration * a.time_base) if a is not None and a.duration else None
    return v.codec_context.name, duration, len(frames), frames[0].rotation % 360, audio


def _corrupt(src, dst, packets):
  """Copy `src` with the payload of the given video packet numbers overwritten by noise."""
  with av.open(str(src)) as c:
    where = [(p.pos, p.size) for p in c.demux(video=0) if p.size]
  data = bytearray(src.read_bytes())
  rng = np.random.default_rng(0)
  for i in packets:
    pos, size = where[i]
    data[pos + 8:pos + size - 4] = rng.integers(0, 256, size - 12, dtype=np.uint8).tobytes()
  dst.write_bytes(bytes(data))
  return dst


@pytest.fixture(scope="module")
def media(tmp_path_factory):
  """One file of each kind in a folder (plus damaged, unknown-codec and non-video files)."""
  d = tmp_path_factory.mktemp("media")
  files = {}
  for name, (codec, pix, rate, n, rot, audio, _) in CASES.items():
    files[name] = write_video(d / name, level_frames(n), codec=codec, rate=rate, rotation=rot,
                              pix_fmt=pix, audio_seconds=n / rate if audio else 0.0,
                              audio_codec=audio)
  mj = write_video(d / "tmp.avi", level_frames(30), codec="mjpeg", rate=10, pix_fmt="yuvj420p")
  files["corrupt_mid.avi"] = _corrupt(mj, d / "corrupt_mid.avi", [12, 13])
  (d / "bad").mkdir()
  files["corrupt_long.avi"] = _corrupt(mj, d / "bad" / "corrupt_long.avi", range(3, 28))
  # an AVI whose codec tag FFmpeg does not know (as a codec missing from the FFmpeg build)
  files["unknown.avi"] = d / "bad" / "unknown.avi"
  files["unknown.avi"].write_bytes(mj.read_bytes().replace(b"MJPG", b"QZQZ"))
  mj.unlink()
  files["song.m4a"] = write_audio_only(d / "bad" / "song.m4a", seconds=1.0)
  (d / "bad" / "notes.txt").write_text("not media")
  return d, files


@pytest.mark.parametrize("name", list(CASES) + ["corrupt_mid.avi"])
def test_music_video_keeps_duration_and_rotation(media, name, tmp_path):
  _, files = media
  src = files[name]
  sr = 32000
  out = mux_music(src, np.full(3 * sr, 0.2, np.float32), sr, tmp_path / "out.mp4")
  codec, duration, frames, rotation, _ = _video_facts(src)
  out_codec, out_duration, out_frames, out_rotation, out_audio = _video_facts(out)
  expected = CASES.get(name, (None,) * 6 + ("mjpeg",))[6]
  assert out_codec == expected, (codec, out_codec)
  frame = 1 / float(CASES.get(name, (0, 0, 10))[2])
  assert abs(out_duration - duration) <= frame + 1e-3
  assert out_frames == frames and out_rotation == rotation
  assert abs(out_audio - out_duration) < 0.05  # the music ends with the picture


def test_damaged_data_rule(media):
  _, files = media
  with pytest.warns(PartialDecodeWarning, match="corrupt_mid.avi: mjpeg video: corrupt data"):
    frames, times = read_frames(files["corrupt_mid.avi"], fps=10, size=16)
  assert len(frames) == 30  # the skipped frames show the frame before them
  with pytest.raises(MediaError, match=r"corrupt_long.avi: corrupt mjpeg video from .*2 s"), \
      warnings.catch_warnings():
    warnings.simplefilter("ignore", PartialDecodeWarning)
    read_frames(files["corrupt_long.avi"], fps=10, size=16)
  with pytest.raises(MediaError, match=r"unknown.avi: video codec .*QZQZ.* cannot be decoded"):
    read_frames(files["unknown.avi"], fps=10, size=16)


def test_one_extension_list_and_include_globs(media):
  root, files = media
  listed = [p for p, _ in tfds_builder.list_inputs(root)]
  assert str(files["song.m4a"].absolute()) in listed  # audio files are tried, then reported
  tried, report = batch.list_media([root])
  assert root / "bad" / "notes.txt" not in tried
  assert [s["path"] for s in report.skipped] == [str(root / "bad" / "notes.txt")]
  assert "not a media file" in report.skipped[0]["reason"]
  tried, report = batch.list_media([root], include=["*.txt"])
  assert tried == [root / "bad" / "notes.txt"] and len(report.skipped) == len(files)


def test_generate_batch_reports_every_file(media, tmp_path_factory):
  root, files = media
  run = make_run_dir(tmp_path_factory.mktemp("run"))
  out = tmp_path_factory.mktemp("out")
  assert cli.main(["generate", str(root), "--workdir", str(run), "--out", str(out),
                   "--seconds", "2"]) == 0
  report = json.loads((out / "generate_report.json").read_text())
  every = sorted(str(p) for p in root.rglob("*") if p.is_file())
  assert sorted([o["path"] for o in report["ok"]] + [s["path"] for s in report["skipped"]]) == every
  reasons = {s["path"]: s["reason"] for s in report["skipped"]}
  assert sorted(reasons) == sorted(str(root / "bad" / n) for n in
                                   ("corrupt_long.avi", "unknown.avi", "song.m4a", "notes.txt"))
  for name, words in (("corrupt_long.avi", "corrupt mjpeg video"), ("unknown.avi", "QZQZ"),
                      ("song.m4a", "no video stream"), ("notes.txt", "not a media file")):
    reason = reasons[str(root / "bad" / name)]
    assert name in reason and words in reason, reason
  for item in report["ok"]:
    _, duration, _, rotation, _ = _video_facts(item["path"])
    _, out_duration, _, out_rotation, out_audio = _video_facts(item["video"])
    assert abs(out_duration - duration) < 0.15 and out_rotation == rotation
    assert abs(out_audio - out_duration) < 0.05
