"""`vmas bench video`: decode+resize throughput and frame-backbone forward throughput.

  vmas bench video                      # 10 s 640x360 30 fps h264 -> 8 fps 224x224; CLIP-B/16
  vmas bench video --backbone hiera --chunk-size 16

Decoding is measured on a video generated into a temporary directory; the backbone runs with
random weights (throughput does not depend on the values) through the same chunked path as
the temporal encoder (`frame_features`).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np

from vmas_jax.bench.timing import time_calls


def add_arguments(p):
  p.add_argument("--seconds", type=float, default=10.0, help="length of the generated video")
  p.add_argument("--src-width", type=int, default=640)
  p.add_argument("--src-height", type=int, default=360)
  p.add_argument("--src-fps", type=int, default=30)
  p.add_argument("--fps", type=float, default=8.0, help="sampling rate of the decoder")
  p.add_argument("--size", type=int, default=224)
  p.add_argument("--backbone", default="clip_vit", choices=["clip_vit", "hiera", "tiny_vit"])
  p.add_argument("--frames", type=int, default=80, help="frames per backbone forward")
  p.add_argument("--chunk-size", type=int, default=80, help="frames per backbone chunk")
  p.add_argument("--dtype", default="float32")
  p.add_argument("--repeats", type=int, default=3)
  p.add_argument("--skip-backbone", action="store_true")
  p.add_argument("--video", default="", help="decode this file instead of a generated one")


def make_test_video(path: Path, seconds: float, width: int, height: int, fps: int) -> Path:
  """h264 video with a moving square over a gradient (realistic decode cost, cheap to make)."""
  from vmas_jax.data.synthetic import write_video
  yy, xx = np.mgrid[0:height, 0:width]
  base = np.stack([xx * 255 // width, yy * 255 // height, (xx + yy) * 127 // (width + height)],
                  -1).astype(np.uint8)

  def frames():  # one at a time: a long high-resolution video need not fit in memory
    for i in range(int(seconds * fps)):
      img = base.copy()
      x = (i * 7) % max(1, width - 64)
      img[height // 3: height // 3 + 64, x:x + 64] = 255
      yield img

  write_video(path, frames(), fps, None, 0)
  return path


def bench_decode(path, fps, size, repeats):
  from vmas_jax.data.video_io import probe_video, read_frames
  info = probe_video(path)
  timing = time_calls(lambda: read_frames(path, fps=fps, size=size)[0], repeats - 1)
  frames = timing.result
  best = min([timing.first_s] + timing.times)  # decoding compiles nothing: every call counts
  return dict(video=str(path), src=f"{info.width}x{info.height}@{info.fps:g}",
              duration_s=round(info.duration, 3), out_frames=len(frames),
              decode_s=round(best, 4), out_frames_per_s=round(len(frames) / best, 1),
              src_frames_per_s=round(info.duration * info.fps / best, 1))


def bench_backbone(name, n, size, chunk, dtype, repeats):
  import jax
  import jax.numpy as jnp
  import ml_collections
  from vmas_jax.build import frame_backbone
  from vmas_jax.models.frame_features import frame_features
  cfg = ml_collections.ConfigDict(dict(backbone=name, backbone_path="", image_size=size,
                                       dtype=dtype))
  module, _ = frame_backbone(cfg)
  h, w = (module.image_size,) * 2 if isinstance(module.image_size, int) else module.image_size
  params = jax.jit(module.init)(jax.random.key(0), jnp.zeros((1, h, w, 3)))["params"]
  frames = jnp.asarray(np.random.RandomState(0).randint(0, 256, (n, size, size, 3)), jnp.uint8)
  fwd = jax.jit(lambda p, f: frame_features(module, p, f, 5, chunk))
  timing = time_calls(lambda: fwd(params, frames), repeats)
  compile_s, best = timing.first_s, timing.best_s
  nparams = sum(x.size for x in jax.tree.leaves(params))
  return dict(backbone=name, params_m=round(nparams / 1e6, 1), frames=n, chunk=chunk,
              dtype=dtype, device=str(jax.devices()[0].platform),
              first_call_s=round(compile_s, 2), forward_s=round(best, 4),
              frames_per_s=round(n / best, 1))


def run(args) -> int:
  with tempfile.TemporaryDirectory() as tmp:
    path = Path(args.video) if args.video else make_test_video(
        Path(tmp) / "bench.mp4", args.seconds, args.src_width, args.src_height, args.src_fps)
    dec = bench_decode(path, args.fps, args.size, args.repeats)
  print(f"decode+resize: {dec['src']} {dec['duration_s']} s -> {dec['out_frames']} frames "
        f"{args.size}x{args.size} at {args.fps:g} fps in {dec['decode_s']} s: "
        f"{dec['out_frames_per_s']} output frames/s ({dec['src_frames_per_s']} source frames/s)")
  result = dict(decode=dec)
  if not args.skip_backbone:
    bb = bench_backbone(args.backbone, args.frames, args.size, args.chunk_size, args.dtype,
                        args.repeats)
    print(f"backbone {bb['backbone']} ({bb['params_m']}M params, {bb['dtype']}, {bb['device']}):"
          f" {bb['frames']} frames in {bb['forward_s']} s = {bb['frames_per_s']} frames/s "
          f"(first call incl. compile {bb['first_call_s']} s)")
    result["backbone"] = bb
  print(json.dumps(result))
  return 0
