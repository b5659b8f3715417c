#!/usr/bin/env bash
# Regenerates the camera sample frames: a 320x240 picture with four coloured quadrants
# (red, green / blue, white), as MJPEG (quality 90, 4:2:2, what webcams send) and as raw YUYV
# (BT.601 limited range, packed Y0 U Y1 V). Needs ImageMagick (`convert-im6.q16` on Debian).
set -euo pipefail
cd "$(dirname "$0")"
IM=$(command -v convert-im6.q16 || command -v magick)
$IM -size 160x120 xc:'#ff0000' -size 160x120 xc:'#00ff00' +append \
    \( -size 160x120 xc:'#0000ff' -size 160x120 xc:'#ffffff' +append \) -append quadrants.png
$IM quadrants.png -quality 90 -sampling-factor 2x1 quadrants_320x240.jpg
$IM quadrants.png -depth 8 rgb:- | python3 -c '
import sys
w, h = 320, 240
rgb = sys.stdin.buffer.read()
def yuv(r, g, b):
    y = 16 + (65.738 * r + 129.057 * g + 25.064 * b) / 256
    u = 128 + (-37.945 * r - 74.494 * g + 112.439 * b) / 256
    v = 128 + (112.439 * r - 94.154 * g - 18.285 * b) / 256
    return [max(0, min(255, round(c))) for c in (y, u, v)]
out = bytearray()
for i in range(0, w * h * 3, 6):
    y0, u0, v0 = yuv(*rgb[i:i + 3])
    y1, u1, v1 = yuv(*rgb[i + 3:i + 6])
    out += bytes([y0, (u0 + u1) // 2, y1, (v0 + v1) // 2])
sys.stdout.buffer.write(out)
' > quadrants_320x240.yuyv
rm quadrants.png
