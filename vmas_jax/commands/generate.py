"""`vmas generate VIDEO_OR_DIR [...] --out DIR [--workdir RUN | --model DIR | --from MUSICGEN]
[--prompt TEXT]`.

Music for videos: from a trained VMAS run (`--workdir`), an exported model (`--model`), or,
with none of the three, the bundled demo model.  A model trained with text
(`config.text.enabled`) takes `--prompt TEXT` too, weighed against the video by
`--guidance-text` / `--guidance-video`.  `--from DIR_OR_HUB_ID --prompt TEXT` is MusicGen
text-to-music fitted to each video instead (`vmas_jax.text_music_video`; no VMAS run needed;
`--config.sampling.FIELD=V` sets its sampling, e.g. window_seconds).

Writes DIR/NAME.wav and DIR/NAME_music.mp4 for each video, and DIR/generate_report.json
(`{"ok": [...], "skipped": [{"path", "reason"}]}`).  Every file under a given folder appears
in the report; a file that fails for any reason is skipped with a reason naming it, never the
end of the batch.  Exit status 1 when no video succeeded (the report is written then too).
"""

from __future__ import annotations

import sys
from pathlib import Path


def add_arguments(parser):
  parser.add_argument("videos", nargs="+", help="video files or folders of videos")
  parser.add_argument("--workdir", default=None,
                      help="a training run's work directory (default: the bundled demo model)")
  parser.add_argument("--from", dest="src", default=None,
                      help="instead of --workdir: a full MusicGen directory or hub id "
                      "(e.g. facebook/musicgen-small) for text-to-music fitted to the video")
  parser.add_argument("--prompt", default=None,
                      help="text prompt (with --from, or a run or exported model trained with text)")
  parser.add_argument("--model", default=None,
                      help="an exported model folder (vmas_jax.exported_model; default: the "
                      "bundled demo model)")
  parser.add_argument("--step", type=int, default=None, help="checkpoint step (default latest)")
  parser.add_argument("--config", default=None,
                      help="config file (default: WORKDIR/config.json saved by training)")
  parser.add_argument("--out", required=True, help="output directory")
  parser.add_argument("--include", action="append", default=None, metavar="GLOB",
                      help="in a folder, try the files whose name matches GLOB (repeatable) "
                      "instead of the known media extensions; every other file is reported")
  parser.add_argument("--seconds", type=float, default=None, help="only the first SECONDS")
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--best-of", type=int, default=None)
  parser.add_argument("--guidance", type=float, default=None)
  parser.add_argument("--guidance-text", type=float, default=None,
                      help="text + video runs: guidance weight of the prompt (--from: the "
                      "guidance scale)")
  parser.add_argument("--guidance-video", type=float, default=None,
                      help="text + video runs: guidance weight of the video")
  parser.add_argument("--top-k", type=int, default=None)
  parser.add_argument("--temperature", type=float, default=None)


def run(args) -> int:
  from tqdm import tqdm
  from vmas_jax.config_utils import load_config
  from vmas_jax.data.batch import list_media
  from vmas_jax.generate import MusicVideoPipeline

  if sum(x is not None for x in (args.src, args.workdir, args.model)) > 1:
    print("vmas generate: give one of --workdir RUN (a trained VMAS run), --model DIR (an "
          "exported model), --from MUSICGEN [--prompt TEXT] (text-to-music, e.g. --from "
          "facebook/musicgen-small), or none (the bundled demo model)", file=sys.stderr)
    return 2
  sampling = {k: v for k, v in dict(guidance_scale=args.guidance, top_k=args.top_k,
                                     temperature=args.temperature,
                                     guidance_text=args.guidance_text,
                                     guidance_video=args.guidance_video).items()
              if v is not None}
  if args.src:
    if "guidance_text" in sampling:
      sampling["guidance_scale"] = sampling.pop("guidance_text")
    sampling.pop("guidance_video", None)
    pipe = _text_pipeline(args.src, args.config_overrides)
    sampling["prompt"] = args.prompt or ""
  elif args.workdir:
    config = load_config(args.config, args.config_overrides) if args.config else None
    pipe = MusicVideoPipeline.from_workdir(args.workdir, args.step, config=config)
  else:
    try:
      pipe = MusicVideoPipeline.from_pretrained(args.model)
    except FileNotFoundError as e:  # no model folder (this install bundles no demo model yet)
      print(f"vmas generate: {e}; give --workdir RUN, --model DIR or --from MUSICGEN",
            file=sys.stderr)
      return 2
  if not args.src and args.prompt is not None:
    if pipe.text is None:
      name = args.workdir or args.model or "the bundled demo model"
      print(f"vmas generate: {name} was trained without text (config.text.enabled is off): "
            "it takes no --prompt; for text-to-music give --from MUSICGEN "
            "(e.g. facebook/musicgen-small)", file=sys.stderr)
      return 2
    sampling["prompt"] = args.prompt
  out = Path(args.out)
  videos, report = list_media(args.videos, args.include)
  for video in tqdm(videos, desc="generate", unit="video"):
    r = report.attempt(video, pipe, video, out, seconds=args.seconds, seed=args.seed,
                       best_of=args.best_of, **sampling)
    if r is not None:
      report.ok.append({"path": str(video), "wav": str(r.wav_path), "video": str(r.video_path)})
  report.write(out / "generate_report.json")
  print(f"generated {len(report.ok)}, skipped {len(report.skipped)} -> {out}")
  return 0 if report.ok else 1


def _text_pipeline(src, overrides):
  from vmas_jax.config_defaults import base_config
  from vmas_jax.config_utils import apply_overrides
  from vmas_jax.text_music_video import TextMusicVideoPipeline
  sampling = apply_overrides(base_config(), overrides).sampling.to_dict()
  return TextMusicVideoPipeline.from_pretrained(src, sampling)
