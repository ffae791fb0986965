#!/usr/bin/env bash
# Installs timm_ml on a fresh machine: the pinned Python requirements and the package itself (`pip install -e .`,
# which adds the timm-ml-* console scripts), plus Debian's Fashion-MNIST package for the demo when apt is usable.
#   --test   also the test tools and what the benchmark / emoji tests read: the Noto emoji font, Unicode CLDR and
#            the Unicode emoji tree (fonts-noto-color-emoji, unicode-cldr-core, unicode-data; about 240 MB), and
#            Debian's Chromium, in which the error-analysis page is tested headless (about 300 MB)
# On a CPU-only machine, install torch from the CPU index first to skip the 3 GB of CUDA wheels:
#   pip install torch==2.14.1 torchvision==0.29.1 --index-url https://download.pytorch.org/whl/cpu
set -euo pipefail
cd "$(dirname "$0")/.."
test_tools=0
[ "${1:-}" = "--test" ] && test_tools=1
need=()
[ -d /usr/share/datasets/fashion-mnist ] || need+=(dataset-fashion-mnist)
if [ $test_tools -eq 1 ]; then
  [ -f /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ] || need+=(fonts-noto-color-emoji)
  [ -d /usr/share/unicode/cldr/common/annotations ] || need+=(unicode-cldr-core)
  [ -f /usr/share/unicode/emoji/emoji-test.txt ] || [ -f /usr/share/unicode/emoji-test.txt ] || need+=(unicode-data)
  command -v chromium >/dev/null 2>&1 || need+=(chromium)
fi
if [ ${#need[@]} -gt 0 ] && command -v apt-get >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && SUDO="sudo"
  if [ "$(id -u)" -eq 0 ] || [ -n "$SUDO" ]; then
    $SUDO apt-get update -qq || true
    for package in "${need[@]}"; do
      $SUDO apt-get install -y -qq "$package" >/dev/null || \
        echo "note: $package not installed (dataset-fashion-mnist: the demo falls back to torchvision's download;" \
             "the emoji font, CLDR and unicode-data: bench/real_data.py and bench/emoji_hierarchy.py need them;" \
             "chromium: the browser test of the report page is skipped)"
    done
  fi
fi
if [ $test_tools -eq 1 ]; then
  python3 -m pip install -q -r requirements-test.txt
else
  python3 -m pip install -q -r requirements.txt
fi
python3 -m pip install -q --no-deps --no-build-isolation -e .
