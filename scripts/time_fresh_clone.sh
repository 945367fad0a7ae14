#!/usr/bin/env bash
# Time CI on a fresh clone: clone HEAD into WORK/main (with ../shared beside it, as CI has it),
# run `bash .ci/run` there, and write each output line with its epoch second to WORK/log, plus
# the load average before and after. With --busy N, N CPU-bound jobs run beside it (issue 11:
# the suite must pass on a machine whose cores are busy).
#
#   bash scripts/time_fresh_clone.sh /tmp/fresh            # quiet machine
#   bash scripts/time_fresh_clone.sh /tmp/fresh --busy 2   # beside two spinning processes
set -euo pipefail
work=${1:?usage: time_fresh_clone.sh WORK_DIR [--busy N]}
busy=0
if [[ ${2:-} == --busy ]]; then busy=${3:?--busy takes a number of jobs}; fi
repo=$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel)
shared=$(cd "$repo/../shared" && pwd)
rm -rf "$work" && mkdir -p "$work"
git clone -q "$repo" "$work/main"
ln -s "$shared" "$work/shared"
spinners=()
for _ in $(seq 1 "$busy"); do python3 -c "while True: pass" & spinners+=($!); done
trap 'kill "${spinners[@]}" 2>/dev/null || true' EXIT
uptime >"$work/load-before"
start=$(date +%s)
set +e
(cd "$work/main" && bash .ci/run) 2>&1 | while IFS= read -r line; do
    printf '%s %s\n' "$(date +%s)" "$line"
done >"$work/log"
rc=${PIPESTATUS[0]}
set -e
uptime >"$work/load-after"
echo "rc=$rc seconds=$(( $(date +%s) - start )) commit=$(git -C "$work/main" rev-parse --short HEAD) busy=$busy" \
    | tee "$work/summary"
grep -E '^[0-9]+ ([0-9]+ (passed|failed)|.*passed in)' "$work/log" | tail -1 || true
exit "$rc"
