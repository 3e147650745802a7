#!/usr/bin/env bash
# Builds the C example (ffi/examples/record.c) against Verbatim's C ABI, statically linked:
#   target/c-example/record OUTDIR NAME=FILE.wav ...
# Env: PROFILE=release|debug (default release), CARGO_TARGET_DIR, CC (default cc).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
profile="${PROFILE:-release}"
target="${CARGO_TARGET_DIR:-$here/target}"
flag=()
[ "$profile" = release ] && flag=(--release)
(cd "$here" && cargo build -q "${flag[@]}" -p verbatim-ffi)
mkdir -p "$target/c-example"
"${CC:-cc}" -std=c11 -O2 -Wall -Wextra -Werror -I "$here/ffi/include" "$here/ffi/examples/record.c" \
    "$target/$profile/libverbatim_ffi.a" -lssl -lcrypto -lpthread -ldl -lm -lstdc++ -o "$target/c-example/record"
echo "$target/c-example/record"
