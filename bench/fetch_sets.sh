#!/usr/bin/env bash
# The image sets the real-data benchmarks read besides Debian's emoji font, from the npm registry (nothing is fetched
# at run time; this is an install step like apt): Twemoji PNGs (emoji-datasource-twitter, the shift test) and the
# Material Design Icons SVGs with their categories (@mdi/svg, the second real set). Unpacked under data/downloads/.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p data/downloads && cd data/downloads
for spec in emoji-datasource-twitter@16.0.0 @mdi/svg@7.4.47; do
  name=$(echo "$spec" | sed 's/@[^@]*$//; s/^@//; s/\//-/')
  [ -d "$name" ] && continue
  tarball=$(npm pack --silent "$spec")
  mkdir -p "$name" && tar xzf "$tarball" -C "$name" --strip-components=1 && rm -f "$tarball"
done
ls
