#!/usr/bin/env bash
# Usage: ./distributed_train.sh NUM_PROC <data> [train.py args...]
# Multi-node: set NNODES, NODE_RANK, MASTER_ADDR, MASTER_PORT in the environment on every node.
# SIGTERM / SIGINT are passed on to torchrun (each rank saves a recovery checkpoint). A rank that stops on a user's
# error (one `error:` line) makes this script print that line last, below torchrun's report of the failed child, and
# exit 2.
NUM_PROC=$1
shift
errors=$(mktemp "${TMPDIR:-/tmp}/timm_ml_errors.XXXXXX")
trap 'rm -f "$errors"' EXIT
TIMM_ML_ERROR_FILE="$errors" torchrun \
  --nnodes="${NNODES:-1}" \
  --node_rank="${NODE_RANK:-0}" \
  --master_addr="${MASTER_ADDR:-127.0.0.1}" \
  --master_port="${MASTER_PORT:-29500}" \
  --nproc_per_node="$NUM_PROC" \
  "$(dirname "$0")/train.py" "$@" &
child=$!
trap 'kill -TERM "$child" 2>/dev/null' TERM
trap 'kill -INT "$child" 2>/dev/null' INT
status=0
wait "$child" || status=$?
while kill -0 "$child" 2>/dev/null; do
  wait "$child"
  status=$?
done
if [ -s "$errors" ]; then
  sed -E "s/^\[rank [0-9]+\] //" "$errors" | sort -u >&2
  exit 2
fi
exit $status
