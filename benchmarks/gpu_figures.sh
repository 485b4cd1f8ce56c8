#!/usr/bin/env bash
# The GPU figures of the speed work in one call, for a session that is lent a GPU:
#   1. cuDNN attention (bf16) against the fp32 einsum reference (tests/test_attention_gpu.py);
#   2. `vmas bench decode`: 10 s of music (500 frames, musicgen-small size, guidance 3,
#      batch 1) generated and decoded to audio, ours (default and with command buffers)
#      beside HF transformers on the same weights;
#   3. `vmas bench train`: the small config's train step (bf16, batch 32, remat) and its MFU
#      against the dense bf16 peak.
#
#   bash benchmarks/gpu_figures.sh [OUT_DIR]          # on the GPU machine, in the repo root
#   WHEELS=DIR bash benchmarks/gpu_figures.sh         # first pip-install the wheels in DIR
#   SIZE=tiny FRAMES=20 TRAIN_CONFIG=tiny TRAIN_BATCH=2 bash benchmarks/gpu_figures.sh
#                                                     # a rehearsal on a CPU machine
#
# The device image has JAX, Flax, Optax, Orbax, PyTorch and transformers but not
# ml_collections; `pip download --no-deps ml_collections -d DIR` here and carry DIR.
# Each step's whole log goes to OUT_DIR/<step>.log; the end of each is printed, and a
# failing step does not stop the others.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-${OUT:-/tmp/gpu_figures}}
PY=${PYTHON:-python3}
SIZE=${SIZE:-small}
FRAMES=${FRAMES:-500}
TRAIN_CONFIG=${TRAIN_CONFIG:-small}
TRAIN_BATCH=${TRAIN_BATCH:-32}
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
if [[ -n "${WHEELS:-}" ]]; then
  "$PY" -m pip install --quiet --no-deps "$WHEELS"/*.whl || echo "wheel install failed"
fi
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version \
  --format=csv,noheader
"$PY" -c "import jax; print('jax', jax.__version__, jax.devices())"

step() {  # step NAME SECONDS COMMAND...
  local name=$1 limit=$2
  shift 2
  echo "== $name: $*"
  local t0=$SECONDS
  timeout "$limit" "$@" > "$OUT/$name.log" 2>&1
  local rc=$?
  grep -v -i -E "warn|missing|newly initialized|^-+|^\s*$|\| (MISSING|UNEXPECTED)" "$OUT/$name.log" | tail -n 14
  echo "== $name: rc=$rc, $((SECONDS - t0)) s"
}
VMAS=("$PY" -c "import sys; from vmas_jax.cli import main; sys.exit(main(sys.argv[1:]))")

# --noconftest: the suite's conftest warms up librosa (not on the device image) and turns
# XLA's backend optimisation off for compile time
step attention 300 "$PY" -m pytest -q -p no:cacheprovider --noconftest tests/test_attention_gpu.py
step decode 300 "${VMAS[@]}" bench decode --size "$SIZE" --frames "$FRAMES" --batch 1 --guidance 3 \
  --codec encodec_32khz --repeats 3 --command-buffers
step train 400 "${VMAS[@]}" bench train --config "$TRAIN_CONFIG" --batch-size "$TRAIN_BATCH" \
  --use-features --config.decoder.remat_policy=dots_saveable \
  --config.video.backbone=tiny_vit --config.video.backbone_path=
