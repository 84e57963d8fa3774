#!/usr/bin/env bash
# Regenerates every raster icon from the hand-written SVGs in src/:
#   png/<size>/ecr-tray-<state>.png  the tray icon per state (ok, expiring, refreshing, error, unconfigured)
#   png/<size>/ecr-tray.png          the application icon (the "ok" design), installed into hicolor
#   ecr-tray.ico                     Windows: the application icon at 16, 24, 32, 48, 64 and 256 px
#   ecr-tray.icns                    macOS: the application icon at 16, 32, 48, 128 and 256 px
# for sizes 16 22 24 32 48 64 128 256.
#
# Needs rsvg-convert (Debian: librsvg2-bin), icotool (icoutils) and png2icns (icnsutils). The
# output is committed; run this after changing an SVG and commit the result.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"

SIZES=(16 22 24 32 48 64 128 256)
STATES=(ok expiring refreshing error unconfigured)

for tool in rsvg-convert icotool png2icns; do
  command -v "$tool" >/dev/null || {
    echo "render.sh: $tool is missing (apt-get install librsvg2-bin icoutils icnsutils)" >&2
    exit 1
  }
done

render() { # render SVG SIZE PNG
  mkdir -p "$(dirname "$3")"
  rsvg-convert --width "$2" --height "$2" --keep-aspect-ratio --format png --output "$3" "$1"
}

for size in "${SIZES[@]}"; do
  for state in "${STATES[@]}"; do
    render "src/ecr-tray-$state.svg" "$size" "png/$size/ecr-tray-$state.png"
  done
  render src/ecr-tray.svg "$size" "png/$size/ecr-tray.png"
done

# Windows keeps 256 px as an embedded PNG (--raw); the smaller ones as bitmaps.
icotool --create --output ecr-tray.ico \
  png/16/ecr-tray.png png/24/ecr-tray.png png/32/ecr-tray.png png/48/ecr-tray.png png/64/ecr-tray.png \
  --raw=png/256/ecr-tray.png

# png2icns picks each image's icon type from its size; 24, 22 and 64 have none.
png2icns ecr-tray.icns \
  png/16/ecr-tray.png png/32/ecr-tray.png png/48/ecr-tray.png png/128/ecr-tray.png png/256/ecr-tray.png >/dev/null

echo "render.sh: wrote png/{${SIZES[*]// /,}}/, ecr-tray.ico and ecr-tray.icns"
