#!/usr/bin/env bash
# Every GPU figure the README reads, inside ten minutes of one GPU (H100 / H200 class):
#   1. train.py's loop against a plain timm loop (bench/gpu_throughput.py), efficientnet_b2 at 224 px, AMP;
#   2. the end-to-end 224 px rows of the method table on emoji (bench/real_data.py --preset gpu-e2e: the top rows of
#      the cached-feature table, tf_efficientnet_lite0 from ImageNet weights, 10 epochs, lr in {1e-3, 3e-3}, AMP),
#      written into README.md between the gpu-e2e markers.
# Needs data/emoji and data/weights/tf_efficientnet_lite0.pth (bash bench/fetch_sets.sh and python bench/emoji_set.py
# build them where the network allows; carry them to an offline GPU machine). Figures go to output/gpu/.
#   bash bench/gpu_all.sh [rows, comma-separated: default the top three of the cached table]
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS="${1:-BCE + linear,ASL + linear,AAM + cosine}"
mkdir -p output/gpu
python3 -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'error: no CUDA device: bench/gpu_all.sh is for a GPU machine')"
for need in data/emoji/train.json data/weights/tf_efficientnet_lite0.pth; do
  [ -e "$need" ] || { echo "error: $need is missing (bash bench/fetch_sets.sh builds it)" >&2; exit 2; }
done
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee output/gpu/device.txt
git rev-parse --short HEAD 2>/dev/null | tee output/gpu/commit.txt || true
date -u +%Y-%m-%dT%H:%MZ | tee output/gpu/date.txt
timeout 240 python3 bench/gpu_throughput.py --model efficientnet_b2 --size 224 -b 128 --amp --channels-last -j 14 \
  | tee output/gpu/throughput.txt
timeout 420 python3 bench/real_data.py --preset gpu-e2e --sets emoji --rows "$ROWS" --seeds-for-top 0 \
  --output output/gpu/fair | tee output/gpu/table_224.txt
