"""The alignment measurements on known audio, and `vmas bench alignment` + `vmas demo` end to
end at the tiny config (a few training steps: it checks the plumbing, not the figures)."""

import json
from pathlib import Path

import numpy as np
import pytest

from vmas_jax import cli
from vmas_jax.data.synthetic import PALETTE, render_music
from vmas_jax.eval import alignment_metrics as am

TINY = "tiny"


def test_true_soundtrack_scores_full_marks_and_shifted_music_does_not():
  sr, seconds, bpm = 32000, 4.0, 105.0
  beats = 0.3 + np.arange(0, seconds - 0.4, 60 / bpm)
  truth = dict(beats=beats.tolist(), bpm=bpm, color="green")
  _, freq, harmonics = PALETTE["green"]
  wav = render_music(beats, freq, harmonics, seconds, sr)
  m = am.clip_metrics(wav, sr, truth)
  assert m["beat_f1"] >= 0.95 and m["beat_hit"] >= 0.95 and m["tempo_error"] < 0.03
  assert m["colour_correct"] == 1.0 and abs(m["pitch_hz"] - freq) < 5
  # half a beat late, and the yellow note: off the flashes, wrong colour, same tempo
  _, yellow, yh = PALETTE["yellow"]
  shifted = (beats + 30 / bpm)[beats + 30 / bpm < seconds]
  off = am.clip_metrics(render_music(shifted, yellow, yh, seconds, sr), sr, truth)
  assert off["beat_f1"] == 0.0 and off["colour_correct"] == 0.0 and off["tempo_error"] < 0.03


def test_recall_tempo_and_colour_helpers():
  sim = np.array([[0.9, 0.1, 0.0], [0.5, 0.4, 0.6], [0.2, 0.2, 0.2]])
  # video 0 ranks its own music first; video 1 third; video 2 ties everyone (counted last)
  assert am.recall_at_k(sim, 1) == pytest.approx(1 / 3)
  assert am.recall_at_k(sim, 2) == pytest.approx(1 / 3)
  assert am.recall_at_k(sim, 3) == pytest.approx(1.0)
  assert am.tempo_error([0.0, 0.5, 1.0, 1.5], 120.0) == pytest.approx(0.0)
  assert am.tempo_error([0.3], 120.0) == 1.0
  assert am.nearest_colour(450.0) == "blue" and am.nearest_colour(float("nan")) is None


def test_varied_training_videos_change_colour_and_rhythm_with_the_music(tmp_path):
  """beat_jitter / colour_change: the flashes move off the steady grid and the shape's
  colour switches at beats, and the soundtrack follows both (onsets on the moved beats, each
  beat's note in its colour)."""
  from vmas_jax.data import synthetic
  from vmas_jax.data.audio_io import load_audio
  sr = 32000
  plain = synthetic.make_synthetic_videos(tmp_path / "plain", 3, seconds=4.0, seed=3)
  varied = synthetic.make_synthetic_videos(tmp_path / "varied", 3, seconds=4.0, seed=3,
                                           beat_jitter=0.2, colour_change=0.5)
  for p in plain:
    assert set(p["beat_colors"]) == {p["color"]}
    assert np.ptp(np.diff(p["beats"])) < 0.05  # steady
  assert any(len(set(v["beat_colors"])) > 1 for v in varied)
  assert any(np.ptp(np.diff(v["beats"])) > 0.05 for v in varied)
  for v in varied:
    wav = np.asarray(load_audio(v["path"], sr), np.float32).reshape(-1)
    assert am.beat_scores(am.onset_times(wav, sr), v["beats"])["f_measure"] >= 0.9
    for b, colour in zip(v["beats"], v["beat_colors"]):  # each note's pitch is its colour's
      note = wav[int((b + 0.02) * sr):int((b + 0.22) * sr)]
      assert am.nearest_colour(am.dominant_pitch(note, sr)) == colour


def test_beat_grid_puts_every_beat_and_its_note_on_the_codec_frames(tmp_path):
  """beat_grid=0.02: each beat is a multiple of 20 ms (one codec frame) and the soundtrack's
  notes start on those beats."""
  from vmas_jax.data import synthetic
  from vmas_jax.data.audio_io import load_audio
  labels = synthetic.make_synthetic_videos(tmp_path, 3, seconds=4.0, seed=5, beat_grid=0.02)
  for v in labels:
    frames = np.asarray(v["beats"]) / 0.02
    np.testing.assert_allclose(frames, np.round(frames), atol=1e-6)
    assert len(v["beat_colors"]) == len(v["beats"]) >= 2
    wav = np.asarray(load_audio(v["path"], 32000), np.float32).reshape(-1)
    assert am.beat_scores(am.onset_times(wav, 32000), v["beats"])["f_measure"] >= 0.9


def test_continuous_tempos_lie_between_the_training_ones_and_away_from_the_held_out(tmp_path):
  from vmas_jax.data import synthetic
  labels = synthetic.make_synthetic_videos(
      tmp_path, 24, seconds=2.0, seed=3, picture=False, continuous_tempo=True,
      avoid_tempos=synthetic.HELD_OUT_TEMPOS_BPM)
  bpm = np.array([v["bpm"] for v in labels])
  assert (bpm >= min(synthetic.TEMPOS_BPM)).all() and (bpm <= max(synthetic.TEMPOS_BPM)).all()
  gaps = np.abs(bpm[:, None] - np.array(synthetic.HELD_OUT_TEMPOS_BPM)[None])
  assert gaps.min() >= synthetic.TEMPO_MARGIN_BPM
  assert len(np.unique(bpm)) == len(bpm)  # not four tempos any more
  for v in labels:  # the beats follow the drawn tempo
    np.testing.assert_allclose(np.diff(v["beats"]), 60.0 / v["bpm"], atol=2e-6)  # 6 decimals


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory):
  work = tmp_path_factory.mktemp("alignment")
  rc = cli.main(["bench", "alignment", "--config", TINY, "--workdir", str(work),
                 "--variants", "full", "--heldout", "2",
                 "--export", str(work / "model"), "--config.total_steps=1",
                 "--config.data.synthetic_examples=2",
                 # the alignment recipe's paths: stored features, standardised, and read
                 # time-aligned by the decoder (training, export, demo and generate)
                 "--config.video.use_features=True", "--config.data.frames_format=features",
                 "--config.video.standardize_features=True",
                 "--config.model.frame_conditioning=True"])
  assert rc == 0
  return work


@pytest.mark.long
def test_bench_alignment_writes_table_json_plot_and_model(bench_run):
  report = json.loads((bench_run / "alignment.json").read_text())
  assert set(report["results"]) == {"full"}
  assert [h["shape"] in ("triangle", "diamond") for h in report["heldout"]] == [True, True]
  for conds in report["results"].values():
    assert set(conds) == {"video", "shuffled", "unconditional"}
    for r in conds.values():
      assert len(r["clips"]) == 2
      for key in ("beat_f1", "beat_alignment", "colour_correct", "r@1", "r@5"):
        assert 0.0 <= r["mean"][key] <= 1.0
      assert r["mean"]["r@5"] == 1.0  # 2 clips: each is in the top 5
  assert set(report["reference"]["mean"]) >= {"beat_f1", "colour_correct"}
  table = (bench_run / "alignment.md").read_text()
  assert table.count("\n") == 2 + 3 + 1 and "| full | shuffled |" in table
  assert (bench_run / "alignment.png").stat().st_size > 1000
  assert (bench_run / "model" / "params.msgpack").is_file()
  # the feature statistics were measured (not the init's 0 / 1) and exported in fp32
  from flax import serialization
  tree = serialization.msgpack_restore((bench_run / "model" / "params.msgpack").read_bytes())
  shift, scale = (tree["video_encoder"][k] for k in ("feature_shift", "feature_scale"))
  assert shift.dtype == scale.dtype == np.float32
  assert np.abs(shift).max() > 1e-3 and np.abs(scale - 1).max() > 1e-3
  assert tree["frame_embed"]["kernel"].dtype != np.float32  # the rest in the export dtype


@pytest.mark.long
def test_demo_with_an_exported_model_writes_music_video_plot_and_scores(bench_run, tmp_path,
                                                                      capsys):
  out = tmp_path / "demo"
  assert cli.main(["demo", "--model", str(bench_run / "model"), "--out", str(out)]) == 0
  summary = json.loads(capsys.readouterr().out)
  assert {"beat_f1", "colour_correct", "video_color", "music_color"} <= set(summary["scores"])
  # 4 s of video in the model's 2 s windows, each after the first continuing the last 1 s
  assert [w["start"] for w in summary["windows"]] == [0.0, 1.0, 2.0]
  names = sorted(p.name for p in out.iterdir())
  assert {"synth_0000.wav", "synth_0000_music.mp4", "synth_0000_beats.png"} <= set(names)


@pytest.mark.long  # shares bench_run: kept on one worker with the other users
def test_generate_without_workdir_uses_the_bundled_model(bench_run, monkeypatch, tmp_path,
                                                         capsys):
  from vmas_jax import exported_model as pretrained
  monkeypatch.setattr(pretrained, "BUNDLED_MODEL", bench_run / "model")
  video = bench_run / "videos" / "heldout" / "synth_0000.mp4"
  assert cli.main(["generate", str(video), "--out", str(tmp_path)]) == 0
  report = json.loads((tmp_path / "generate_report.json").read_text())
  assert [o["path"] for o in report["ok"]] == [str(video)]
  assert (tmp_path / "synth_0000_music.mp4").is_file()
  monkeypatch.setattr(pretrained, "BUNDLED_MODEL", tmp_path / "nothing")
  capsys.readouterr()
  assert cli.main(["generate", str(video), "--out", str(tmp_path)]) == 2  # a clear error
  assert "no bundled demo model" in capsys.readouterr().err


@pytest.mark.long  # shares bench_run: kept on one worker with the other users
def test_colab_inference_notebook_runs(bench_run, monkeypatch, tmp_path):
  """Every code cell of colabs/inference_demo.ipynb but the install cell, in one namespace,
  with the exported tiny model standing in for the bundled one and IPython's display
  recorded (no notebook front end here)."""
  import sys
  import types
  from vmas_jax import exported_model as pretrained
  monkeypatch.setattr(pretrained, "BUNDLED_MODEL", bench_run / "model")
  shown = []
  display_mod = types.ModuleType("IPython.display")
  display_mod.display = shown.append
  for name in ("Audio", "Image", "Video"):
    setattr(display_mod, name, lambda *a, _name=name, **k: (_name, a, k))
  monkeypatch.setitem(sys.modules, "IPython", types.ModuleType("IPython"))
  monkeypatch.setitem(sys.modules, "IPython.display", display_mod)
  monkeypatch.chdir(tmp_path)
  nb = json.loads((Path(__file__).resolve().parents[1] / "colabs" /
                   "inference_demo.ipynb").read_text())
  cells = [c for c in nb["cells"] if c["cell_type"] == "code"]
  assert "install" in cells[0]["metadata"]["tags"]
  namespace = {}
  for cell in cells[1:]:
    source = "".join(cell["source"])
    assert "!" not in source.split("\n")[0] and "%" not in source[:1]
    exec(compile(source, "inference_demo.ipynb", "exec"), namespace)  # pylint: disable=exec-used
  assert [s[0] for s in shown] == ["Audio", "Video", "Image"]
  assert namespace["result"].video_path.is_file() and namespace["mine"] is None


@pytest.mark.skipif(not (Path(__file__).resolve().parents[1] / "vmas_jax" / "assets" /
                         "demo_model" / "params.msgpack").is_file(),
                    reason="this checkout has no bundled demo model")
def test_demo_with_the_bundled_model(tmp_path, capsys):
  out = tmp_path / "demo"
  assert cli.main(["demo", "--out", str(out), "--seconds", "4"]) == 0
  summary = json.loads(capsys.readouterr().out)
  assert Path(summary["music_video"]).is_file() and Path(summary["plot"]).is_file()
  assert 0.0 <= summary["scores"]["beat_f1"] <= 1.0


def test_a_stopped_training_ends_the_bench_instead_of_measuring_it(monkeypatch, tmp_path):
  """A SIGTERM'd run returns stopped_early: the bench exits with a message naming the run
  (rerunning resumes it) rather than scoring an unfinished model and training the next."""
  from vmas_jax import train as train_lib
  from vmas_jax.bench import alignment
  monkeypatch.setattr(train_lib, "train", lambda config, workdir: {"stopped_early": True,
                                                                   "step": 77})
  with pytest.raises(SystemExit, match=r"no_contrastive: training stopped at step 77"):
    alignment.train_and_load(None, tmp_path / "no_contrastive", {})
