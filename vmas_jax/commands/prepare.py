"""`vmas prepare`: build the TFDS/ArrayRecord clip dataset from videos (or synthetic ones).

  vmas prepare --input VIDEOS_DIR_OR_CSV --output DATA_DIR [--config tiny]
  vmas prepare --synthetic 64 --output DATA_DIR --config tiny
  vmas prepare --input DIR --output DATA_DIR --beam-runner DirectRunner \
      --beam-option direct_num_workers=2 --beam-option direct_running_mode=multi_processing

Writes DATA_DIR/vmas_clips/1.0.0/ and DATA_DIR/prepare_report.json; prints the counts.
Exit status 0 when at least one clip was written (skipped files are not an error), 1 if no
usable video was found (the report is written then too).  Every file under the input folder
appears in the report: files without a media extension (or not matching `--include`) as
skipped "not a media file".
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

DEFAULT_CONFIG = "tiny"


def add_arguments(parser) -> None:
  parser.add_argument("--input", help="folder of videos (searched recursively) or a CSV "
                      "manifest with a `path` column; music files too with "
                      "--config.data.mode=mixed or music_only")
  parser.add_argument("--output", required=True, help="dataset folder (DATA_DIR)")
  parser.add_argument("--synthetic", type=int, default=0, metavar="N",
                      help="first write N synthetic aligned videos to DATA_DIR/videos "
                      "(used as the input when --input is not given)")
  parser.add_argument("--config", default=DEFAULT_CONFIG,
                      help="config file: clip length, fps, image size, frames format, codec")
  parser.add_argument("--beam-runner", default=None,
                      help="run as an Apache Beam pipeline: DirectRunner, DataflowRunner, "
                      "FlinkRunner, SparkRunner, ...")
  parser.add_argument("--beam-option", action="append", default=[], metavar="K=V",
                      help="Beam pipeline option, repeatable (e.g. direct_num_workers=2)")
  parser.add_argument("--overwrite", action="store_true",
                      help="rebuild when DATA_DIR already holds a dataset")
  parser.add_argument("--include", action="append", default=None, metavar="GLOB",
                      help="in a folder, try the files whose name matches GLOB (repeatable) "
                      "instead of the known media extensions; every other file is reported")
  parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args) -> int:
  from vmas_jax.config_utils import load_config
  from vmas_jax.data import tfds_builder
  from vmas_jax.data.synthetic import make_synthetic_videos, training_set_options

  config = load_config(args.config, getattr(args, "config_overrides", []))
  if not args.input and not args.synthetic:
    print("vmas prepare: give --input DIR_OR_CSV or --synthetic N", file=sys.stderr)
    return 2
  output = Path(args.output)
  inputs = args.input
  if args.synthetic:
    videos = output / "videos"
    print(f"writing {args.synthetic} synthetic videos to {videos}")
    make_synthetic_videos(videos, args.synthetic, size=int(config.video.image_size),
                          **training_set_options(config))
    inputs = inputs or videos
  start = time.perf_counter()
  try:
    report = tfds_builder.build_dataset(
        inputs, output, config, beam_runner=args.beam_runner, beam_options=args.beam_option,
        progress=not args.no_progress, overwrite=args.overwrite, include=args.include)
  except (FileNotFoundError, FileExistsError, ValueError) as e:
    print(f"vmas prepare: {e}", file=sys.stderr)
    return 1
  seconds = time.perf_counter() - start
  for item in report["skipped"]:
    print(f"skipped {item['path']}: {item['reason']}")
  s = report["splits"]
  clips = s["train"]["clips"] + s["validation"]["clips"]
  print(f"videos: {len(report['ok'])} ok, {len(report['skipped'])} skipped | clips: "
        f"{s['train']['clips']} train ({s['train']['videos']} videos), "
        f"{s['validation']['clips']} validation ({s['validation']['videos']} videos) | "
        f"{seconds:.1f} s, {clips / max(seconds, 1e-9):.2f} clips/s")
  print(f"dataset: {output / report['dataset_dir']}  report: {output / 'prepare_report.json'}")
  return 0
