#!/usr/bin/env bash
# Installs GStreamer from Debian's packages when any element named as an argument is missing: for the benchmarks
# that measure GStreamer beside Verbatim (benches/listen-load.sh, scripts/compare-gstreamer.sh). The test suite
# does not need it, so scripts/setup.sh leaves it out. Exits 1, saying which, when an element is still missing.
#
# Usage: scripts/ensure-gstreamer.sh ELEMENT...   (e.g. audiomixer opusenc wavparse)
set -uo pipefail

have_all() {
    for el in "$@"; do
        gst-inspect-1.0 "$el" >/dev/null 2>&1 || return 1
    done
}

have_all "$@" && exit 0
echo "installing GStreamer (Debian packages)..." >&2
sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"
$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
    --no-install-recommends gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good \
    gstreamer1.0-plugins-bad >/dev/null
have_all "$@" || { echo "!!! GStreamer elements still missing after the install (wanted: $*)" >&2; exit 1; }
