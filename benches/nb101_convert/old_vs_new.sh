#!/usr/bin/env bash
# Two nb1s1 binaries side by side in one run, on the same files (issue 18's old-vs-new figures):
#   1. `nb101 bench` of each binary on each file, alternating, SETS times (convert against a
#      warm read, store open, query by hash and by spec, scan);
#   2. `ab.py`: whole `nb101 convert` processes interleaved with `cat`;
#   3. hyperfine: whole `nb101 query` processes (open + one model + exit) and `--version`;
#   4. peak RSS of those processes (`/usr/bin/time -f %M`, median of 5).
#
#   benches/nb101_convert/old_vs_new.sh OLD_BIN NEW_BIN DIR [SETS]
#
# DIR holds syn7_108.tfrecord, syn7_full.tfrecord, syntrue108.tfrecord (see docs/benchmarks.md
# for the `nb101 generate` lines) and real_30_only108.tfrecord; results go to DIR/out.
set -euo pipefail
OLD=$1 NEW=$2 DIR=$3 SETS=${4:-3}
AB=$(cd "$(dirname "$0")" && pwd)/ab.py
OUT=$DIR/out
mkdir -p "$OUT"
load() { echo "$(date -u +%H:%M:%S) $(cut -d' ' -f1-3 /proc/loadavg) $*" >>"$OUT/load.log"; }
rounds() { case $1 in syn7_full) echo 7 ;; *) echo 11 ;; esac; }
have() { [ -f "$DIR/$1.tfrecord" ]; }
FILES=""
for f in syn7_108 syn7_full syntrue108 real_30_only108; do
  if have $f; then FILES="$FILES $f"; fi
done

load start
for s in $(seq "$SETS"); do
  for f in $FILES; do
    for tag in old new; do
      bin=$OLD; [ $tag = new ] && bin=$NEW
      load "bench $f $tag set $s"
      "$bin" nb101 bench --tfrecord "$DIR/$f.tfrecord" --store "$DIR/$f.$tag.nb101" \
        --samples 100000 --rounds "$(rounds $f)" >"$OUT/bench.$f.$tag.$s.md"
    done
  done
done

for f in syn7_108 syn7_full; do
  have $f || continue
  load "ab $f"
  python3 "$AB" "$DIR/$f.tfrecord" "$(( $(rounds $f) * 2 ))" "$OLD" "$NEW" >"$OUT/ab.$f.txt"
done

# One model per query process: by spec on the real fixture and on the true-hash file, by
# hash on the released-size stores (their random hashes are no cell's graph hash, so
# `--hash` alone would look up the cell's hash and fail; `--all-repeats` reads the model).
M=0101000/0011100/0001000/0000001/0000010/0000001/0000000
O=input,conv3x3-bn-relu,conv1x1-bn-relu,conv1x1-bn-relu,conv3x3-bn-relu,conv1x1-bn-relu,output
first_hash() { "$NEW" nb101 info --nb101 "$1" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["first_hash"])'; }
spec_of() {
  "$NEW" nb101 query --nb101 "$1" --hash "$2" --json | python3 -c '
import json, sys
q = json.load(sys.stdin)
print("/".join("".join(str(x) for x in row) for row in q["module_adjacency"]), ",".join(q["module_operations"]))'
}
read -r TM TO <<<"$(spec_of "$DIR/syntrue108.new.nb101" "$(first_hash "$DIR/syntrue108.new.nb101")")"
cmds=()
names=()
for tag in old new; do
  bin=$OLD; [ $tag = new ] && bin=$NEW
  names+=("$tag --version" "$tag query real_30 spec" "$tag query syntrue108 spec")
  cmds+=("$bin --version"
    "$bin nb101 query --nb101 $DIR/real_30_only108.$tag.nb101 --matrix $M --ops $O"
    "$bin nb101 query --nb101 $DIR/syntrue108.$tag.nb101 --matrix $TM --ops $TO")
  for f in syn7_108 syn7_full; do
    have $f || continue
    names+=("$tag query $f hash")
    cmds+=("$bin nb101 query --nb101 $DIR/$f.$tag.nb101 --hash $(first_hash "$DIR/$f.new.nb101") --all-repeats")
  done
done
args=()
for i in "${!cmds[@]}"; do args+=(-n "${names[$i]}" "${cmds[$i]}"); done
load hyperfine
hyperfine -N --warmup ${HF_WARMUP:-5} --runs ${HF_RUNS:-40} --export-json "$OUT/hyperfine.json" "${args[@]}" \
  >"$OUT/hyperfine.txt" 2>&1
load rss
for i in "${!cmds[@]}"; do
  for _ in 1 2 3 4 5; do
    # shellcheck disable=SC2086
    /usr/bin/time -f "%e %M" -a -o "$OUT/rss.$i.txt" ${cmds[$i]} >/dev/null
  done
  echo "${names[$i]}: max RSS KB (5 runs): $(cut -d' ' -f2 "$OUT/rss.$i.txt" | sort -n | tr '\n' ' ')" \
    >>"$OUT/rss.txt"
done
load end
