#!/usr/bin/env bash
# Figures of the leg merge (issue 16): per-leg and merged speech loss on long simulated meetings, merge time
# per recorded hour, and the provenance check, through the release CLI.
#
#   benches/merge-figures.sh [MINUTES] [SEEDS...]      (default: 60 minutes, seeds 1 2)
#
# Cases per seed (stand-up of 6, audio only):
#   legs      both legs --leg-impair teams-x3, no uplink loss: merged loss vs the product of the legs' losses
#   uplink    the same plus --impair loss=2% on the senders' uplinks (both legs lose those frames)
#   dies      leg 2 dies at 40 % of the call (--leg-span -<0.4 T>): merged must hold all of leg 1
# and, once (unless SKIP_VIDEO=1), the same meeting with cameras and a screen share for the composite's share of the merge time.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
minutes="${1:-60}"; shift || true
seeds=("${@:-1 2}"); read -r -a seeds <<< "${seeds[*]}"
bin="$here/target/release/verbatim"
cargo build --release -p verbatim --manifest-path "$here/Cargo.toml" >&2
work="$(mktemp -d /tmp/verbatim-merge-figures.XXXXXX)"
trap 'rm -rf "$work"' EXIT
key="$work/key"; "$bin" keygen --out "$key" >/dev/null
dies_at=$(( minutes * 60 * 4 / 10 ))

rec() { # out seed leg extra...
    local out=$1 seed=$2 leg=$3; shift 3
    "$bin" record --simulate --meeting standup --duration "${minutes}m" --seed "$seed" --leg "$leg" \
        --signing-key "$key" --quiet --out "$out" "$@" >/dev/null 2>&1
}
merge() { # out legs...
    local out=$1; shift
    local t0; t0=$(date +%s.%N)
    "$bin" merge --signing-key "$key" --no-composite --json --out "$out" "$@" > "$out.json" 2>/dev/null
    local t1; t1=$(date +%s.%N)
    echo "$t0 $t1" > "$out.time"
    "$bin" verify "$out" --trust-embedded-key $(for l in "$@"; do echo --leg "$l"; done) > "$out.verify" 2>&1
}

for seed in "${seeds[@]}"; do
    rec "$work/s$seed-a" "$seed" 1 --leg-impair teams-x3
    rec "$work/s$seed-b" "$seed" 2 --leg-impair teams-x3
    merge "$work/s$seed-legs" "$work/s$seed-a" "$work/s$seed-b"
    rec "$work/s$seed-ua" "$seed" 1 --leg-impair teams-x3 --impair loss=2%
    rec "$work/s$seed-ub" "$seed" 2 --leg-impair teams-x3 --impair loss=2%
    merge "$work/s$seed-uplink" "$work/s$seed-ua" "$work/s$seed-ub"
    rec "$work/s$seed-d" "$seed" 2 --leg-impair teams-x3 --leg-span "-${dies_at}s"
    merge "$work/s$seed-dies" "$work/s$seed-a" "$work/s$seed-d"
done
vseed="${seeds[0]}"
if [ -z "${SKIP_VIDEO:-}" ]; then
rec "$work/v-a" "$vseed" 1 --leg-impair teams-x3 --video
rec "$work/v-b" "$vseed" 2 --leg-impair teams-x3 --video
t0=$(date +%s.%N)
"$bin" merge --signing-key "$key" --out "$work/v-m" "$work/v-a" "$work/v-b" >/dev/null 2>&1
t1=$(date +%s.%N)
echo "$t0 $t1" > "$work/v-m.time"
fi

python3 - "$work" "$minutes" "${seeds[@]}" <<'PY'
import json, sys
work, minutes, seeds = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
def md(d): return json.load(open(f"{work}/{d}/metadata.json"))
def lost(m): return {p["name"]: p["losses"]["inferred_loss_us"] / 1e6 for p in m["participants"]}
def speech(m): return {p["name"]: p["samples_written"] / 16000 + p["losses"]["inferred_loss_us"] / 1e6 for p in m["participants"]}
def secs(d):
    a, b = open(f"{work}/{d}.time").read().split(); return float(b) - float(a)
def verified(d):
    t = open(f"{work}/{d}.verify").read()
    return "0 mismatches, 0 unattributed samples" in t and "intact" in t
print(f"| seed | case | speech (s) | lost leg 1 (s) | lost leg 2 (s) | product of legs' loss rates x speech (s) | lost merged (s) | disagreeing frames | merge time (s) | per recorded hour (s) | provenance |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for s in seeds:
    for case, a, b in (("legs", "a", "b"), ("uplink", "ua", "ub"), ("dies", "a", "d")):
        ma, mb, mm = md(f"s{s}-{a}"), md(f"s{s}-{b}"), md(f"s{s}-{case}")
        la, lb, lm, sp = lost(ma), lost(mb), lost(mm), speech(ma)
        # Expected loss if the legs' paths are independent: per participant rate_a * rate_b * speech.
        sb = speech(mb)
        prod = sum(la[n] / sp[n] * lb.get(n, 0) / max(sb.get(n, 1e-9), 1e-9) * sp[n] for n in sp if sp[n] > 0 and n in lb)
        r = json.load(open(f"{work}/s{s}-{case}.json"))
        dis = sum(p["disagreeing_frames"] for p in r["participants"])
        t = secs(f"s{s}-{case}")
        print(f"| {s} | {case} | {sum(sp.values()):.1f} | {sum(la.values()):.2f} | {sum(lb.values()):.2f} | {prod:.3f} | {sum(lm.values()):.3f} | {dis} | {t:.1f} | {t * 60 / minutes:.1f} | {'0 mismatches' if verified(f's{s}-{case}') else 'FAILED'} |")
    # The dead leg: does the merged recording hold all of leg 1 (speech samples held, from the merge report)?
    r = json.load(open(f"{work}/s{s}-dies.json"))
    wa = sum(p["held_by_source"][0] for p in r["participants"])
    wm = sum(sum(p["from_source"]) for p in r["participants"])
    print(f"|  | dies: speech samples leg 1 {wa}, merged {wm} ({'>=' if wm >= wa else '<'}) |")
import os
if not os.path.exists(f"{work}/v-m.time"): sys.exit(0)
t = secs("v-m")
print(f"\nvideo meeting ({minutes:.0f} min, cameras + screen share, composite rebuilt): merge {t:.1f} s = {t * 60 / minutes:.1f} s per recorded hour")
PY
