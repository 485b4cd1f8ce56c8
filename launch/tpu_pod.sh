#!/usr/bin/env bash
# A TPU pod slice: the same command on every worker VM; JAX discovers the slice topology and
# jax.distributed.initialize() needs no arguments there.  WORKDIR must be shared storage
# (a gs:// bucket path works for Orbax), so every host writes to the same checkpoint.
#
#   TPU_NAME=my-v5p-64 ZONE=us-east5-a launch/tpu_pod.sh small gs://bucket/run1 \
#       --config.mesh_shape="(1,-1,1)"
#
# The repo is copied to every worker with `gcloud compute tpus tpu-vm scp` first
# (set SYNC=0 to skip), then installed into a venv there.
set -euo pipefail
CONFIG=${1:?config name or file}; WORKDIR=${2:?workdir (shared, e.g. gs://...)}; shift 2
: "${TPU_NAME:?set TPU_NAME}" "${ZONE:?set ZONE}"
PROJECT_FLAG=${PROJECT:+--project=$PROJECT}
REPO_DIR=${REPO_DIR:-vmas_jax}
if [[ "${SYNC:-1}" == 1 ]]; then
  gcloud compute tpus tpu-vm scp --recurse --worker=all --zone="$ZONE" $PROJECT_FLAG \
    "$(cd "$(dirname "$0")/.." && pwd)" "$TPU_NAME:~/$REPO_DIR"
fi
EXTRA=$(printf ' %q' "$@")
gcloud compute tpus tpu-vm ssh "$TPU_NAME" --worker=all --zone="$ZONE" $PROJECT_FLAG --command "
  set -e; cd ~/$REPO_DIR
  [ -d .venv ] || { python3 -m venv .venv && .venv/bin/pip install -q -e . 'jax[tpu]'; }
  .venv/bin/vmas train --config $CONFIG --workdir $WORKDIR $EXTRA"
