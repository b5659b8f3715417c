#!/usr/bin/env bash
# Installs what building, running and testing need on Debian 12, and nothing twice.
# As root it installs; otherwise it prints the apt line to run and stops.
set -euo pipefail

# Why each package is here:
#   build-essential pkg-config  compile C parts of dependencies
#   libssl-dev                  the WebDriver client's HTTP stack (tests)
#   libwebkit2gtk-4.1-dev       Tauri v2's webview (pulls GTK 3, libsoup 3)
#   xvfb xauth                  a display for the app in tests and on headless machines
#   webkit2gtk-driver           WebKitWebDriver, which tauri-driver drives (end-to-end tests)
#   libxcb*-dev                 screen capture (scrap: X11 shared-memory images, RandR monitors)
#   libclang-dev                camera (nokhwa's V4L2 bindings are generated with bindgen)
#   libasound2-dev              microphone and speaker (cpal on ALSA)
#   pulseaudio libasound2-plugins  a virtual microphone for tests; ALSA's default routed to it
#   pulseaudio-utils            parec: tests record what the speaker played from a null sink
#   libtool autoconf automake   build WebRTC's audio processing module (echo cancellation…)
#   cmake                       builds libopus (opusic-sys, bundled)
#   nasm                        OpenH264's assembly: ~2.8x faster encoding than its C fallback
#   python3                     scripts/bench-join.sh's statistics
#   janus                       the SFU our server's capacity is compared with (scripts/janus/)
PACKAGES=(
  build-essential pkg-config curl file libssl-dev
  libwebkit2gtk-4.1-dev
  xvfb xauth webkit2gtk-driver
  libxcb1-dev libxcb-shm0-dev libxcb-randr0-dev
  libasound2-dev pulseaudio pulseaudio-utils libasound2-plugins libclang-dev
  cmake nasm libtool autoconf automake
  python3 janus
)
TAURI_DRIVER_VERSION=2.1.0

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "setup: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "setup: missing system packages. Run:" >&2
    echo "  sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
  fi
fi

if [ -d "$HOME/.cargo/bin" ]; then
  export PATH="$HOME/.cargo/bin:$PATH"
fi
if ! command -v cargo >/dev/null; then
  echo "setup: Rust is missing. Install it with rustup (https://rustup.rs), then run this again." >&2
  exit 1
fi
# tauri-driver has no --version; cargo's own record says which one is installed.
if ! cargo install --list | grep -q "^tauri-driver v$TAURI_DRIVER_VERSION:"; then
  echo "setup: installing tauri-driver $TAURI_DRIVER_VERSION (WebDriver for the app's end-to-end tests)" >&2
  cargo install tauri-driver --version "$TAURI_DRIVER_VERSION" --locked --quiet
fi
# Fuzzing (scripts/fuzz.sh; CI runs each target briefly): cargo-fuzz needs the nightly toolchain
# for its sanitizer and coverage flags; the product itself builds on stable.
CARGO_FUZZ_VERSION=0.13.2
if ! rustup toolchain list | grep -q '^nightly'; then
  echo "setup: installing the nightly toolchain (for cargo-fuzz only)" >&2
  rustup toolchain install nightly --profile minimal
fi
if ! cargo install --list | grep -q "^cargo-fuzz v$CARGO_FUZZ_VERSION:"; then
  echo "setup: installing cargo-fuzz $CARGO_FUZZ_VERSION" >&2
  cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked --quiet
fi
