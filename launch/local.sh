#!/usr/bin/env bash
# One machine: all local accelerators in one process (the usual case), or N CPU processes
# joined by jax.distributed on localhost to rehearse a multi-host run.
#
#   launch/local.sh tiny /tmp/vmas_tiny [--config.FIELD=VALUE ...]
#   NUM_PROCESSES=2 JAX_PLATFORMS=cpu launch/local.sh tiny /tmp/vmas_mh
set -euo pipefail
CONFIG=${1:?config name or file}; WORKDIR=${2:?workdir}; shift 2
NUM_PROCESSES=${NUM_PROCESSES:-1}
if [[ "$NUM_PROCESSES" == 1 ]]; then
  exec vmas train --config "$CONFIG" --workdir "$WORKDIR" "$@"
fi
PORT=${PORT:-12355}
pids=()
for ((i = 0; i < NUM_PROCESSES; i++)); do
  JAX_COORDINATOR_ADDRESS="localhost:$PORT" JAX_NUM_PROCESSES="$NUM_PROCESSES" JAX_PROCESS_ID="$i" \
    vmas train --config "$CONFIG" --workdir "$WORKDIR" "$@" &
  pids+=($!)
done
# Forward SIGTERM (preemption) to every process; each saves its part and exits.
trap 'kill -TERM "${pids[@]}" 2>/dev/null' TERM INT
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=$?; done
exit $status
