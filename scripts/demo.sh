#!/usr/bin/env bash
# The demo: install, build Fashion-MNIST mosaics, train, estimate per-class thresholds on val, validate on test (with
# the error-analysis page output/train/demo/report/index.html), plot.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
DATA=data/fmnist_mosaic
EXP=output/train/demo
[ -f $DATA/test.json ] || python3 -m fashion_attrs.mosaic --out $DATA --train 4000 --val 1000 --test 1000
rm -rf $EXP
python3 train.py $DATA --model test_resnet --input-size 3 56 56 -b 64 --epochs 10 --opt adamw --lr 6e-3 \
  --weight-decay 1e-4 --warmup-epochs 1 --scale 0.85 1 --ratio 1 1 --color-jitter 0 -j 2 --log-interval 100 \
  --loss asl --gamma-pos 0 --experiment demo
python3 validate.py $DATA --checkpoint $EXP/model_best.pth.tar --split val --estimate-thresholds
python3 validate.py $DATA --checkpoint $EXP/model_best_thresholds.pth.tar --split test --results-file $EXP/test_results.json \
  --report $EXP/report
python3 -m timm_ml.plot $EXP/summary.csv --out $EXP/curves.png
