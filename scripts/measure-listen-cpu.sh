#!/usr/bin/env bash
# The CPU of `verbatim listen` (release build) recording CALLS simulated 4-speaker calls of SECS seconds in real
# time, with its metrics port scraped once a second (MODE=with) or without --metrics (MODE=without): figures
# in docs/operations.md. Usage: scripts/measure-listen-cpu.sh with|without CALLS SECS (SECS > 20).
# Needs: cargo build --release -p verbatim (CARGO_TARGET_DIR honoured), curl, bc.
set -u
B=${CARGO_TARGET_DIR:-target}/release/verbatim
MODE=$1; CALLS=$2; SECS=$3
D=${TMPDIR:-/tmp}/verbatim-measure-$MODE-$$; rm -rf $D; mkdir -p $D
EXTRA=""; [ "$MODE" = with ] && EXTRA="--metrics 0"
$B listen --bind 127.0.0.1:0 --out $D/out --no-auth --max-calls 500 $EXTRA > $D/listen.out 2> $D/listen.err & LP=$!
sleep 1
ADDR=$(head -1 $D/listen.out | sed 's/listening on //')
M=$(sed -n 2p $D/listen.out | sed 's|metrics on http://||; s|/metrics||')
$B send --simulate --participants 4 --connect $ADDR --call-id m --duration ${SECS}s --calls $CALLS > $D/send.out 2>&1 & SP=$!
if [ "$MODE" = with ]; then ( while kill -0 $LP 2>/dev/null; do curl -s http://$M/metrics > $D/last.txt; sleep 1; done ) & fi
cpu() { awk '{print $14+$15}' /proc/$LP/stat; }
sleep 10; c0=$(cpu); t0=$(date +%s.%N); [ "$MODE" = with ] && p0=$(grep '^verbatim_media_passes_total' $D/last.txt | awk '{print $2}')
sleep $((SECS-20)); c1=$(cpu); t1=$(date +%s.%N); [ "$MODE" = with ] && p1=$(grep '^verbatim_media_passes_total' $D/last.txt | awk '{print $2}')
TCK=$(getconf CLK_TCK)
wait $SP; SRC=$?
kill -INT $LP; wait $LP
cores=$(echo "($c1-$c0)/$TCK/($t1-$t0)" | bc -l)
extra=""
[ "$MODE" = with ] && extra="passes/s $(echo "($p1-$p0)/($t1-$t0)" | bc -l | cut -c1-7); $(grep -E '^verbatim_call_cpu_per_pass_seconds_(sum|count)|^verbatim_call_cost_cores' $D/last.txt | tr '\n' ' ')"
echo "$MODE calls=$CALLS send_rc=$SRC listen cores=$(printf %.4f $cores) per_call=$(echo "$cores/$CALLS" | bc -l | cut -c1-7) $extra"
grep -c completed $D/send.out
