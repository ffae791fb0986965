#!/usr/bin/env bash
# Usage: ./distributed_train.sh NUM_PROC <data> [train.py args...]
# Multi-node: set NNODES, NODE_RANK, MASTER_ADDR, MASTER_PORT in the environment on every node.
NUM_PROC=$1
shift
exec torchrun \
  --nnodes="${NNODES:-1}" \
  --node_rank="${NODE_RANK:-0}" \
  --master_addr="${MASTER_ADDR:-127.0.0.1}" \
  --master_port="${MASTER_PORT:-29500}" \
  --nproc_per_node="$NUM_PROC" \
  "$(dirname "$0")/train.py" "$@"
