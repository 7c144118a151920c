#!/usr/bin/env python3
"""Summarizes the output of old_vs_new.sh: the median over sets of each `nb101 bench` row
(old and new side by side), the ab.py lines, hyperfine medians and peak RSS.

    benches/nb101_convert/summarize.py DIR/out
"""
import glob
import json
import os
import re
import statistics
import sys

out = sys.argv[1]
NUM = re.compile(r"[-+]?\d+(?:\.\d+)?")
rows = {}  # (file, measurement) -> {tag: [value strings]}
for p in sorted(glob.glob(os.path.join(out, "bench.*.md"))):
    _, f, tag, _s, _ = os.path.basename(p).split(".")
    for line in open(p):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 2 or cells[0] in ("measurement", "---") or not NUM.search(cells[1]):
            continue
        name = re.sub(r" \(median of \d+\)", "", cells[0])
        rows.setdefault((f, name), {}).setdefault(tag, []).append(cells[1])


def med(vals):
    """Median of each number in the cells, keeping the first cell's words."""
    nums = [[float(x) for x in NUM.findall(v)] for v in vals]
    k = min(len(n) for n in nums)
    m = [statistics.median(n[i] for n in nums) for i in range(k)]
    it = iter(m)
    return NUM.sub(lambda _: f"{next(it):.3f}".rstrip("0").rstrip("."), vals[0], count=k)


last = None
for (f, name), by in rows.items():
    if f != last:
        print(f"\n### {f}\n\n| measurement | old (median of sets) | new (median of sets) | sets |\n|---|---|---|---|")
        last = f
    o, n = by.get("old", ["-"]), by.get("new", ["-"])
    print(f"| {name} | {med(o) if o != ['-'] else '-'} | {med(n) if n != ['-'] else '-'} | {len(o)}/{len(n)} |")
for p in sorted(glob.glob(os.path.join(out, "ab.*.txt"))):
    print(f"\n{os.path.basename(p)}:\n" + open(p).read())
hf = os.path.join(out, "hyperfine.json")
if os.path.exists(hf):
    print("| process | median | mean | min | user + sys (mean) |\n|---|---|---|---|---|")
    for r in json.load(open(hf))["results"]:
        print(f"| {r['command']} | {r['median'] * 1e3:.1f} ms | {r['mean'] * 1e3:.1f} ms | "
              f"{r['min'] * 1e3:.1f} ms | {(r['user'] + r['system']) * 1e3:.1f} ms |")
rss = os.path.join(out, "rss.txt")
if os.path.exists(rss):
    for line in open(rss):
        name, kb = line.split(": max RSS KB (5 runs): ")
        print(f"peak RSS {name}: median {statistics.median(int(x) for x in kb.split()):,} KB")
load = os.path.join(out, "load.log")
if os.path.exists(load):
    la = [float(l.split()[1]) for l in open(load)]
    print(f"\nload average (1 min) during the run: {min(la):.2f}-{max(la):.2f}")
