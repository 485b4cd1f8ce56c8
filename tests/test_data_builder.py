"""The dataset builder over real (tiny) mp4s: good videos, one bad file of every kind,
plain vs Apache Beam DirectRunner, the report, splits and the stored examples."""

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from media_fixtures import make_broken_videos
from vmas_jax import cli
from vmas_jax.config_utils import load_config
from vmas_jax.data import clips, synthetic, tfds_builder

CONFIG = "tiny"
# 4 s videos of 2 s clips -> 2 clips each; at 0.3, synth_0002 and bad_too_short hash into
# validation (the split is a function of the relative path only)
OVERRIDES = ["--config.data.validation_fraction=0.3"]
NUM_GOOD, SECONDS = 4, 4.0
REASON_WORDS = {"empty": "empty", "unreadable": "unreadable", "truncated": "truncated",
                "no_audio": "no audio stream", "no_video": "no video stream",
                "too_short": "shorter than one clip"}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
  root = tmp_path_factory.mktemp("videos")
  labels = synthetic.make_synthetic_videos(root, NUM_GOOD, seconds=SECONDS, seed=3, size=32,
                                           fps=4.0)
  bad = make_broken_videos(root / "bad", seconds=2.0, size=32, fps=4.0)
  (root / "notes.txt").write_text("not a video")  # reported, not tried: not a media file
  return root, labels, bad


@pytest.fixture(scope="module")
def built(inputs, tmp_path_factory):
  root, _, _ = inputs
  out = tmp_path_factory.mktemp("plain")
  config = load_config(CONFIG, OVERRIDES)
  report = tfds_builder.build_dataset(root, out, config, progress=False)
  return out, report


def _all_examples(data_dir):
  builder = tfds_builder.load_builder(data_dir)
  return {split: [builder.as_data_source(split)[i]
                  for i in range(builder.info.splits[split].num_examples)]
          for split in builder.info.splits}


def test_report_lists_every_bad_file_with_its_reason(inputs, built):
  root, labels, bad = inputs
  out, report = built
  assert report == json.loads((out / "prepare_report.json").read_text())
  assert report["ok"] == sorted(str(Path(x["path"]).absolute()) for x in labels)
  reasons = {item["path"]: item["reason"] for item in report["skipped"]}
  # every file under the folder is in the report: labels.json and notes.txt not tried
  assert len(report["skipped"]) == len(bad) + 2 == 8
  for kind, path in bad.items():
    assert REASON_WORDS[kind] in reasons[str(Path(path).absolute())], (kind, reasons)
  for name in ("labels.json", "notes.txt"):
    assert reasons[str(root.absolute() / name)].startswith("not a media file"), reasons
  assert report["splits"]["train"] == {"videos": 3, "clips": 6}
  assert report["splits"]["validation"] == {"videos": 1, "clips": 2}


def test_every_good_clip_is_stored_once_in_its_videos_split(inputs, built):
  root, labels, _ = inputs
  examples = _all_examples(built[0])
  assert sorted(examples) == ["train", "validation"]
  seen = {}
  for split, items in examples.items():
    for ex in items:
      source = ex["source"].decode()
      assert seen.setdefault(source, split) == split  # no video in two splits
      rel = Path(source).relative_to(root.absolute()).as_posix()
      assert clips.split_of(rel, 0.3) == split
  ids = sorted(ex["id"].decode() for items in examples.values() for ex in items)
  assert len(ids) == len(set(ids)) == NUM_GOOD * 2
  starts = sorted((ex["source"].decode(), float(ex["start"]))
                  for items in examples.values() for ex in items)
  assert starts == sorted((str(Path(x["path"]).absolute()), s) for x in labels
                          for s in (0.0, 2.0))


def test_stored_clip_contents(built):
  ex = _all_examples(built[0])["train"][0]
  assert ex["codes"].shape == (4, 100) and ex["codes"].dtype == np.int16
  assert ex["codes"].min() >= 0 and ex["codes"].max() < 2048
  for key in ("music_beat", "video_beat"):
    assert ex[key].shape == (100,) and np.isfinite(ex[key]).all()
  np.testing.assert_allclose(ex["frame_times"], np.arange(8) / 4.0, atol=1e-6)
  frames = [np.asarray(Image.open(io.BytesIO(b))) for b in ex["frames"]]
  assert len(frames) == 8 and frames[0].shape == (32, 32, 3)
  assert max(f.max() for f in frames) > 100  # the coloured shape is there


def test_beam_direct_runner_equals_plain_build(inputs, built, tmp_path):
  root, _, _ = inputs
  out = tmp_path / "beam"
  status = cli.main(["prepare", "--input", str(root), "--output", str(out),
                     "--config", CONFIG, "--no-progress", "--beam-runner", "DirectRunner",
                     "--beam-option", "direct_num_workers=2",
                     "--beam-option", "direct_running_mode=multi_threading", *OVERRIDES])
  assert status == 0
  plain, beam = _all_examples(built[0]), _all_examples(out)
  assert json.loads((out / "prepare_report.json").read_text()) == built[1]
  assert sorted(plain) == sorted(beam)
  for split in plain:
    assert [e["id"] for e in plain[split]] == [e["id"] for e in beam[split]]
    for a, b in zip(plain[split], beam[split]):
      assert sorted(a) == sorted(b)
      for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_csv_manifest_lists_the_same_videos_as_the_folder(inputs):
  root, _, _ = inputs
  folder = tfds_builder.list_inputs(root)
  manifest = root / "manifest.csv"
  rows = ["path"] + [Path(p).relative_to(root.absolute()).as_posix() for p, _ in folder]
  manifest.write_text("\n".join(rows) + "\n")
  assert tfds_builder.list_inputs(manifest) == folder
  assert len(folder) == NUM_GOOD + 6
  (root / "bad.csv").write_text("file\nx.mp4\n")
  with pytest.raises(ValueError, match="bad.csv.*path"):
    tfds_builder.list_inputs(root / "bad.csv")


def test_synthetic_flashes_and_onsets_fall_on_the_beats():
  import librosa
  rng = np.random.default_rng(0)
  beats = synthetic.regular_beats(4.0, 90.0, 0.5)
  rgb, freq, harmonics = synthetic.PALETTE["green"]
  frames = synthetic.render_frames(beats, rgb, "circle", 4.0, 8.0, 32, rng)
  brightness = frames.reshape(len(frames), -1).max(axis=1).astype(float)
  first = np.ceil(beats * 8.0 - 1e-6).astype(int)  # first frame at or after each beat
  for a, b in zip(first, list(first[1:]) + [len(frames)]):
    assert brightness[a] == brightness[a:b].max() > brightness[a - 1] if a else True
  wav = synthetic.render_music(beats, freq, harmonics, 4.0, 16000)
  onsets = librosa.onset.onset_detect(y=wav, sr=16000, hop_length=160, units="time")
  assert len(onsets) == len(beats)
  np.testing.assert_allclose(onsets, beats, atol=0.03)


def test_all_bad_validation_split_and_no_usable_video(inputs, tmp_path, capsys):
  root, _, bad = inputs
  folder = tmp_path / "in"
  (folder / "bad").mkdir(parents=True)
  (folder / "synth_0000.mp4").write_bytes((root / "synth_0000.mp4").read_bytes())
  (folder / "bad" / "bad_no_video.mp4").write_bytes(Path(bad["no_video"]).read_bytes())
  # at 0.35 the bad file is the only validation video: the build goes on without the split
  config = load_config(CONFIG, ["--config.data.validation_fraction=0.35"])
  report = tfds_builder.build_dataset(folder, tmp_path / "out", config, progress=False)
  assert report["skipped"] == [{"path": str(folder / "bad" / "bad_no_video.mp4"),
                                "reason": "no video stream"}]
  assert report["splits"]["validation"] == {"videos": 0, "clips": 0}
  assert list(tfds_builder.load_builder(tmp_path / "out").info.splits) == ["train"]
  # nothing usable: exit status 1, the report still lists every file
  (folder / "synth_0000.mp4").unlink()
  status = cli.main(["prepare", "--input", str(folder), "--output", str(tmp_path / "none"),
                     "--config", CONFIG, "--no-progress"])
  assert status == 1 and "no usable video" in capsys.readouterr().err
  report = json.loads((tmp_path / "none" / "prepare_report.json").read_text())
  assert report["ok"] == [] and len(report["skipped"]) == 1


def test_stored_beat_curves_peak_on_the_synthetic_beats(inputs, built):
  from vmas_jax.beats import beat_times
  _, labels, _ = inputs
  truth = {str(Path(x["path"]).absolute()): np.asarray(x["beats"]) for x in labels}
  for items in _all_examples(built[0]).values():
    for ex in items:
      start = float(ex["start"])
      beats = truth[ex["source"].decode()]
      beats = beats[(beats >= start) & (beats < start + 2.0)] - start
      music, video = beat_times(ex["music_beat"]), beat_times(ex["video_beat"])
      # every detected beat is a true beat: music to 20 ms, video to a source frame (0.25 s
      # at 4 fps) plus one step of the 50 Hz grid the curve is placed on (a frame at 0.25 s
      # lands on grid point 0.26 s)
      assert all(np.abs(beats - t).min() <= 0.02 for t in music), (beats, music)
      assert all(np.abs(beats - t).min() <= 0.25 + 0.02 for t in video), (beats, video)
      # only an onset at the very start of a clip can go unseen
      assert len(music) >= len(beats[beats > 0.1])
