#!/usr/bin/env bash
# Installs the system packages Verbatim's build and tests need on a fresh Debian machine.
#   cmake      - the `opus` crate builds bundled libopus with cmake
#   nasm       - openh264's assembly kernels (2.6x faster H.264)
#   pkg-config - -sys crates probe with it
#   ffmpeg     - ffprobe/ffmpeg check every file we write, in tests
#   mount      - mount/umount: the disk-full tests mount a 3 MB tmpfs (as root; skipped loudly otherwise)
#   libssl-dev - the `openssl` crate verifies RFC 3161 time-stamp tokens (CMS) with the system libssl
#   openssl    - tests run a real time-stamping authority on loopback (`openssl ts -reply`) and make its key
#   chromium   - a real browser loads our MP4s in tests (duration at load, seeking by the index: muxer/tests/browser.rs)
#   gcc, g++, python3, mono-mcs, mono-runtime - the C ABI's proofs in other languages (verbatim/tests/embedding.rs):
#                the C example is compiled with cc and linked with libstdc++ (g++; OpenH264 is C++), a Python ctypes
#                script and a C# program (Mono) record through it
#   python3-prometheus-client - its OpenMetrics parser checks `listen --metrics` output (verbatim/tests/fleet.rs)
# Safe to run again: it installs only what is missing.
set -euo pipefail
pkgs=(cmake nasm pkg-config ffmpeg mount libssl-dev openssl chromium gcc g++ python3 mono-mcs mono-runtime python3-prometheus-client)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
echo "setup: ${pkgs[*]} present"
