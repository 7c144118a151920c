#!/usr/bin/env bash
# Scheduling overhead of the Slurm backend on the local cluster (scripts/slurm-local.sh):
# N tiny black-box units (one seed, a few queries against a synthetic NB-101 table of space 1)
# on the local backend and as one Slurm array job, wall time of each, and per element the
# submission -> start and end -> ingest delays. Usage: scripts/bench-slurm.sh [N] [NB1S1]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
N="${1:-100}"
BIN="$(realpath "${2:-target/debug/nb1s1}")"
WORK="$(mktemp -d /tmp/nb1s1-bench-slurm.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
scripts/slurm-local.sh start >/dev/null
eval "$(scripts/slurm-local.sh env)"
CPUS="$(nproc)"

"$BIN" space enumerate --space 1 --unique --json 2>/dev/null |
  "$BIN" nb101 generate --specs - --out "$WORK/nb.tfrecord" >/dev/null 2>&1
cat >"$WORK/exp.toml" <<EOF
name = "overhead"
[slurm]
cpus_per_task = 1
[[study]]
name = "tiny"
kind = "blackbox"
optimizers = ["rs"]
spaces = [1]
seeds = "0..$N"
seeds_per_run = 1
queries = 5
nb101 = "$WORK/nb.tfrecord"
EOF

t0=$(date +%s.%N)
"$BIN" experiment run "$WORK/exp.toml" --out "$WORK/local" --workers "$CPUS" --gpus none 2>/dev/null
t1=$(date +%s.%N)
"$BIN" experiment run "$WORK/exp.toml" --out "$WORK/slurm" --backend slurm --poll 0.5 2>/dev/null
t2=$(date +%s.%N)
"$BIN" results ingest --db "$WORK/r.sqlite" "$WORK/slurm" >/dev/null 2>&1
t3=$(date +%s.%N)

job="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["jobs"][0]["job_id"])' \
  "$WORK/slurm/.experiment/slurm/jobs.json")"
# Submit, start and end times of every element (seconds resolution), from scontrol.
scontrol -o show job "$job" | python3 -c '
import sys, datetime, statistics
t = lambda s: datetime.datetime.fromisoformat(s).timestamp()
rows = []
for line in sys.stdin:
    f = dict(w.split("=", 1) for w in line.split() if "=" in w)
    rows.append((t(f["SubmitTime"]), t(f["StartTime"]), t(f["EndTime"])))
wait = sorted(s - q for q, s, e in rows)
run = sorted(e - s for q, s, e in rows)
first = min(q for q, s, e in rows)
last_end = max(e for q, s, e in rows)
print(f"elements: {len(rows)}")
print(f"submission -> start: first element {min(wait):.0f} s, median {statistics.median(wait):.0f} s, last {max(wait):.0f} s")
print(f"element run time: median {statistics.median(run):.0f} s")
print(f"submission -> last element end: {last_end - first:.0f} s")
' "$job"
printf 'local backend (%s workers): %.1f s\n' "$CPUS" "$(echo "$t1 - $t0" | bc)"
printf 'slurm backend (run, waiting): %.1f s\n' "$(echo "$t2 - $t1" | bc)"
printf 'ingest after the last element: %.2f s\n' "$(echo "$t3 - $t2" | bc)"
