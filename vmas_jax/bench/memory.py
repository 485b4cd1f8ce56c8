"""`vmas bench memory`: peak memory of generating music for a long video.

  vmas bench memory --minutes 60          # a 60-minute 32x32 video at 2 fps, tiny model
  vmas bench memory --minutes 2 10        # several lengths: peak RSS must not grow with length

Each length runs `MusicVideoPipeline(config, params)(video, out)` -- what `vmas generate`
runs per video: windows, streamed WAV, music video -- in a fresh subprocess, and reports that
process's peak resident memory (`ru_maxrss`), wall time and windows.  The model is the tiny
config with random weights (memory does not depend on the values); `--window` sets the
window length (`data.clip_seconds`).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path


def add_arguments(p):
  p.add_argument("--minutes", type=float, nargs="+", default=[60.0], help="video lengths")
  p.add_argument("--fps", type=int, default=2, help="frame rate of the synthetic video")
  p.add_argument("--size", type=int, default=32, help="width and height of the video")
  p.add_argument("--window", type=float, default=10.0, help="window seconds (clip_seconds)")
  p.add_argument("--out", default="", help="keep the videos and outputs here")


def measure(seconds: float, folder, *, fps: int = 2, size: int = 32,
            window: float = 10.0) -> dict:
  """Peak RSS (MiB) and wall time of generating music for a `seconds`-long synthetic video,
  in a subprocess; the video and outputs are written under `folder`."""
  from vmas_jax.bench.video import make_test_video
  folder = Path(folder)
  folder.mkdir(parents=True, exist_ok=True)
  video = make_test_video(folder / f"long_{seconds:g}s.mp4", seconds, size, size, fps)
  cmd = [sys.executable, "-m", "vmas_jax.bench.memory", str(video), str(folder / "out"),
         str(window)]
  done = subprocess.run(cmd, capture_output=True, text=True, check=False)
  if done.returncode:
    raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
  return json.loads(done.stdout.strip().splitlines()[-1])


def _child(video: str, out: str, window: float) -> None:
  import resource
  import time

  import flax.linen as nn
  import jax

  from vmas_jax.config_defaults import tiny_config
  from vmas_jax.generate import MusicVideoPipeline
  from vmas_jax.build import build_model
  from vmas_jax.train.memory_data import make_example_batch
  config = tiny_config()
  config.data.clip_seconds = window
  model = build_model(config)
  batch = make_example_batch(config, 1, seed=0)
  params = jax.jit(lambda: nn.unbox(model.init(jax.random.key(0), batch))["params"])()
  pipe = MusicVideoPipeline(config, params)
  start = time.perf_counter()
  r = pipe(video, out)
  seconds = time.perf_counter() - start
  peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
  print(json.dumps(dict(video_seconds=round(r.codes.shape[1] / 50, 2), windows=len(r.windows),
                        peak_rss_mib=round(peak, 1), wall_s=round(seconds, 1),
                        music_video=str(r.video_path))))


def run(args) -> int:
  with tempfile.TemporaryDirectory() as tmp:
    root = Path(args.out or tmp)
    rows = []
    for minutes in args.minutes:
      row = measure(minutes * 60, root / f"{minutes:g}min", fps=args.fps, size=args.size,
                    window=args.window)
      rows.append(dict(minutes=minutes, **row))
      print(json.dumps(rows[-1]), flush=True)
  return 0


if __name__ == "__main__":
  _child(sys.argv[1], sys.argv[2], float(sys.argv[3]))
