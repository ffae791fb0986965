#!/usr/bin/env bash
# Installs everything timm_ml needs on a fresh machine: Debian's Fashion-MNIST package (the demo), the Noto emoji font
# and Unicode CLDR annotations (the real-data benchmark's images and tags) when apt is usable, and the pinned Python
# requirements (plus test tools).
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
[ -d /usr/share/datasets/fashion-mnist ] || need+=(dataset-fashion-mnist)
[ -f /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ] || need+=(fonts-noto-color-emoji)
[ -d /usr/share/unicode/cldr/common/annotations ] || need+=(unicode-cldr-core)
if [ ${#need[@]} -gt 0 ] && command -v apt-get >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && SUDO="sudo"
  if [ "$(id -u)" -eq 0 ] || [ -n "$SUDO" ]; then
    $SUDO apt-get update -qq || true
    for package in "${need[@]}"; do
      $SUDO apt-get install -y -qq "$package" >/dev/null || \
        echo "note: $package not installed (dataset-fashion-mnist: the demo falls back to torchvision's download;" \
             "the emoji font and CLDR: bench/real_data.py needs them)"
    done
  fi
fi
python3 -m pip install -q -r requirements-test.txt
