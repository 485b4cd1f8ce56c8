"""`vmas bench data`: prepare throughput (clips/s) and loader throughput (batches/s).

  vmas bench data --config small --videos 4 --video-seconds 40 --batches 10

Writes synthetic aligned videos at the config's shapes (small: 10 s clips, 8 fps -> 80
frames of 224x224), builds them with the dataset builder (codec randomly initialised, so no
download: the encode cost is the same; the frame backbone likewise, for the video beat
curve's embedding novelty), then times the Grain training iterator at the
config's global batch size on this machine.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

DEFAULT_CONFIG = "small"


def add_arguments(parser) -> None:
  parser.add_argument("--config", default=DEFAULT_CONFIG)
  parser.add_argument("--videos", type=int, default=4, help="synthetic source videos")
  parser.add_argument("--video-seconds", type=float, default=40.0,
                      help="length of each video (several clips each)")
  parser.add_argument("--batches", type=int, default=10, help="timed loader batches")
  parser.add_argument("--workers", type=int, nargs="*", default=[0, 2],
                      help="loader num_workers settings to time")
  parser.add_argument("--beam-runner", default=None, help="also time a Beam build")
  parser.add_argument("--work-dir", default=None, help="keep inputs and dataset here")


def _time_loader(config, data_dir, workers: int, batches: int) -> tuple[float, dict]:
  from vmas_jax.data import pipeline
  config = config.copy_and_resolve_references()
  config.data.num_workers = workers
  it = pipeline.make_train_iterator(config, process_index=0, process_count=1,
                                    data_dir=data_dir)
  first = next(it)  # start-up (worker processes, first reads) is not timed
  start = time.perf_counter()
  for _ in range(batches):
    next(it)
  return batches / (time.perf_counter() - start), {k: v.shape for k, v in first.items()}


def run(args) -> int:
  from vmas_jax.config_utils import load_config
  from vmas_jax.data import tfds_builder
  from vmas_jax.data.synthetic import make_synthetic_videos

  config = load_config(args.config, getattr(args, "config_overrides", []))
  # random weights of the same architectures: no download, same compute
  config.codec.hf_path = ""
  config.video.backbone_path = ""
  config.data.validation_fraction = 0.0
  work = Path(args.work_dir or tempfile.mkdtemp(prefix="vmas_bench_data_"))
  try:
    v, d = config.video, config.data
    start = time.perf_counter()
    make_synthetic_videos(work / "videos", args.videos, seconds=args.video_seconds,
                          size=int(v.image_size), fps=float(v.video_fps))
    print(f"synthetic videos: {args.videos} x {args.video_seconds:g} s at "
          f"{v.image_size}px {v.video_fps:g} fps in {time.perf_counter() - start:.1f} s")
    # warm-up build of one clip: compiles the codec and backbone (cached per process), so
    # the timed builds below measure the steady state
    make_synthetic_videos(work / "warmup", 1, seconds=float(d.clip_seconds),
                          size=int(v.image_size), fps=float(v.video_fps))
    start = time.perf_counter()
    tfds_builder.build_dataset(work / "warmup", work / "data_warmup", config, progress=False,
                               overwrite=True)
    print(f"warm-up build (compiles + 1 clip): {time.perf_counter() - start:.1f} s")
    runs = [None] + ([args.beam_runner] if args.beam_runner else [])
    for runner in runs:
      out = work / f"data_{runner or 'plain'}"
      start = time.perf_counter()
      report = tfds_builder.build_dataset(work / "videos", out, config, beam_runner=runner,
                                          progress=False, overwrite=True)
      seconds = time.perf_counter() - start
      clips = report["splits"]["train"]["clips"]
      print(f"prepare ({runner or 'plain python'}): {clips} clips of {d.clip_seconds:g} s "
            f"in {seconds:.1f} s = {clips / seconds:.3f} clips/s "
            f"(frames_format={d.frames_format}, codec={config.codec.arch}, beat_embeddings="
            f"{d.beat_embeddings}: backbone {v.backbone})")
    data_dir = work / "data_plain"
    for workers in args.workers:
      rate, shapes = _time_loader(config, data_dir, workers, args.batches)
      print(f"loader (num_workers={workers}): {rate:.3f} batches/s = "
            f"{rate * d.global_batch_size:.1f} clips/s at global batch "
            f"{d.global_batch_size}; " + ", ".join(f"{k} {tuple(s)}"
                                                     for k, s in sorted(shapes.items())))
  finally:
    if not args.work_dir:
      shutil.rmtree(work, ignore_errors=True)
  return 0
