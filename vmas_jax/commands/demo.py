"""`vmas demo`: the whole system on one machine, no downloads.

Trains the tiny config on synthetic music videos (skipped when WORKDIR already has a
checkpoint), makes a new synthetic video (or takes `--video`), generates its music, writes
the music video, a beat plot, and prints beat-alignment scores against the video's beats.
"""

from __future__ import annotations

import json
from pathlib import Path


def add_arguments(parser):
  parser.add_argument("--config", default=None, help="config file (default: configs/tiny.py "
                      "settings from vmas_jax.config_defaults)")
  parser.add_argument("--workdir", default="/tmp/vmas_demo")
  parser.add_argument("--out", default=None, help="outputs (default WORKDIR/demo)")
  parser.add_argument("--video", default=None, help="your own video (default: a synthetic one)")
  parser.add_argument("--seconds", type=float, default=None)
  parser.add_argument("--best-of", type=int, default=2)
  parser.add_argument("--seed", type=int, default=0)


def run(args) -> int:
  import numpy as np

  from vmas_jax import beats
  from vmas_jax.config_defaults import tiny_config
  from vmas_jax.config_utils import apply_overrides, load_config
  from vmas_jax.data.synthetic import make_synthetic_videos
  from vmas_jax.eval.beat_metrics import beat_scores
  from vmas_jax.eval.plots import plot_beats
  from vmas_jax.generate import MusicVideoPipeline
  from vmas_jax.train import train
  from vmas_jax.train.checkpoint import checkpoint_dir

  config = load_config(args.config) if args.config else tiny_config()
  apply_overrides(config, args.config_overrides)
  workdir = Path(args.workdir)
  out = Path(args.out) if args.out else workdir / "demo"
  ckpts = checkpoint_dir(workdir)
  if not (ckpts.exists() and any(p.name.isdigit() for p in ckpts.iterdir())):
    print(f"training {config.name} for {config.total_steps} steps in {workdir} ...")
    train(config, workdir)
  pipe = MusicVideoPipeline.from_workdir(workdir, config=config)

  truth = None
  video = args.video
  if video is None:
    seconds = args.seconds or 2 * float(config.data.clip_seconds)
    info = make_synthetic_videos(out / "input", 1, seconds=seconds, seed=10_000 + args.seed,
                                 size=max(64, int(config.video.image_size)))[0]
    video, truth = info["path"], np.asarray(info["beats"])
  result = pipe(video, out, seconds=args.seconds, seed=args.seed, best_of=args.best_of)

  fr, sr = pipe.settings["frame_rate"], result.sample_rate
  music_curve, music_beats = beats.music_beat_curve(result.wav, sr, result.codes.shape[1],
                                                    frame_rate=fr)
  video_beats = beats.beat_times(result.video_beat, fr) if truth is None else truth
  scores = beat_scores(music_beats, video_beats)
  plot = plot_beats(out / f"{Path(video).stem}_beats.png", result.video_beat, music_curve, fr,
                    video_beats=video_beats, music_beats=music_beats, wav=result.wav,
                    sample_rate=sr, title=Path(video).name)
  summary = dict(video=str(video), wav=str(result.wav_path), music_video=str(result.video_path),
                 plot=str(plot), beat_scores=scores,
                 windows=[dict(start=w.start, frames=w.frames, **w.score) for w in result.windows])
  print(json.dumps(summary, indent=2))
  return 0

