#!/usr/bin/env bash
# Builds the C# bindings and the example: ffi/csharp/build.sh OUTDIR -> OUTDIR/record.exe (Mono's mcs).
# Run: LD_LIBRARY_PATH=target/debug mono OUTDIR/record.exe OUTFOLDER NAME=FILE.wav ...
set -euo pipefail
if [ "$#" -ne 1 ]; then
    echo "usage: $0 OUTDIR" >&2
    exit 2
fi
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
mkdir -p "$1"
out="$(cd "$1" && pwd)/record.exe"
mcs -nologo -warnaserror -target:exe -out:"$out" "$here/Verbatim.cs" "$here/Record.cs"
echo "$out"
