"""`vmas demo`: video in, music out, with the demo model bundled in the package.

  vmas demo                       # a new synthetic video -> DIR/synth_0000_music.mp4 + plot
  vmas demo --video clip.mp4      # your own video
  vmas demo --train               # train the tiny config first (WORKDIR), then generate

Makes a synthetic music video's picture (or takes `--video`), generates its music, writes
the music video, the WAV and a beat plot (video beat curve and flashes, music onsets,
spectrogram), and prints how well the music follows the video: for a synthetic video,
against its true flash times, tempo and colour; for your own, against its video beats.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def add_arguments(parser):
  parser.add_argument("--video", default=None, help="your own video (default: a synthetic one)")
  parser.add_argument("--out", default="/tmp/vmas_demo/demo", help="output directory")
  parser.add_argument("--model", default=None,
                      help="an exported model folder (default: the bundled demo model)")
  parser.add_argument("--seconds", type=float, default=None)
  parser.add_argument("--best-of", type=int, default=None)
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--train", action="store_true",
                      help="train --config in --workdir first (skipped when it has a "
                      "checkpoint) and generate with that run instead")
  parser.add_argument("--config", default=None, help="with --train: config file (default: "
                      "the tiny config)")
  parser.add_argument("--workdir", default="/tmp/vmas_demo", help="with --train: run folder")


def _trained_pipeline(args):
  from vmas_jax.config_defaults import tiny_config
  from vmas_jax.config_utils import apply_overrides, load_config
  from vmas_jax.generate import MusicVideoPipeline
  from vmas_jax.train import train
  from vmas_jax.train.checkpoint import checkpoint_dir

  config = load_config(args.config) if args.config else tiny_config()
  apply_overrides(config, args.config_overrides)
  workdir = Path(args.workdir)
  ckpts = checkpoint_dir(workdir)
  if not (ckpts.exists() and any(p.name.isdigit() for p in ckpts.iterdir())):
    print(f"training {config.name} for {config.total_steps} steps in {workdir} ...")
    train(config, workdir)
  return MusicVideoPipeline.from_workdir(workdir, config=config)


def run(args) -> int:
  import numpy as np

  from vmas_jax import beats
  from vmas_jax.data import synthetic
  from vmas_jax.eval import alignment_metrics
  from vmas_jax.eval.beat_metrics import beat_scores
  from vmas_jax.eval.plots import plot_beats
  from vmas_jax.generate import MusicVideoPipeline

  from vmas_jax.exported_model import BUNDLED_MODEL, PARAMS_FILE
  train = args.train or (args.model is None and not (BUNDLED_MODEL / PARAMS_FILE).is_file())
  if train and not args.train:
    print(f"{BUNDLED_MODEL}: this install has no bundled demo model; training the tiny "
          "config first (as `vmas demo --train`)", file=sys.stderr)
  pipe = _trained_pipeline(args) if train else MusicVideoPipeline.from_pretrained(args.model)
  config = pipe.config
  out = Path(args.out)
  truth = None
  video = args.video
  if video is None:
    seconds = args.seconds or 2 * float(config.data.clip_seconds)
    truth = synthetic.make_synthetic_videos(
        out / "input", 1, seconds=seconds, seed=10_000 + args.seed,
        size=max(64, int(config.video.image_size)),
        tempos=synthetic.TEMPOS_BPM + synthetic.HELD_OUT_TEMPOS_BPM,
        shapes=synthetic.SHAPES + synthetic.HELD_OUT_SHAPES)[0]
    video = truth["path"]
  result = pipe(video, out, seconds=args.seconds, seed=args.seed, best_of=args.best_of)

  fr, sr = pipe.settings["frame_rate"], result.sample_rate
  music_curve, _ = beats.music_beat_curve(result.wav, sr, result.codes.shape[1], frame_rate=fr)
  onsets = beats.beat_times(music_curve, fr)
  if truth is not None:
    video_beats = np.asarray(truth["beats"])
    scores = alignment_metrics.clip_metrics(result.wav, sr, truth)
    scores.update(video_color=truth["color"], video_bpm=truth["bpm"], video_shape=truth["shape"],
                  music_color=alignment_metrics.nearest_colour(scores["pitch_hz"]))
  else:
    video_beats = beats.beat_times(result.video_beat, fr)
    scores = beat_scores(onsets, video_beats)
  plot = plot_beats(out / f"{Path(video).stem}_beats.png", result.video_beat, music_curve, fr,
                    video_beats=video_beats, music_beats=onsets, wav=result.wav,
                    sample_rate=sr, title=f"{Path(video).name}: video flashes (blue) and "
                    "music onsets (orange)")
  summary = dict(video=str(video), wav=str(result.wav_path), music_video=str(result.video_path),
                 plot=str(plot), scores=scores,
                 windows=[dict(start=w.start, frames=w.frames, **w.score) for w in result.windows])
  print(json.dumps(summary, indent=2))
  return 0
