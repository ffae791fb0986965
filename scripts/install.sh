#!/usr/bin/env bash
# Installs everything timm_ml needs on a fresh machine: Debian's Fashion-MNIST package (when apt is usable) and the
# pinned Python requirements (plus test tools).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -d /usr/share/datasets/fashion-mnist ] && command -v apt-get >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && SUDO="sudo"
  if [ "$(id -u)" -eq 0 ] || [ -n "$SUDO" ]; then
    $SUDO apt-get update -qq || true
    $SUDO apt-get install -y -qq dataset-fashion-mnist >/dev/null || \
      echo "note: dataset-fashion-mnist not installed; the demo falls back to torchvision's download"
  fi
fi
python3 -m pip install -q -r requirements-test.txt
