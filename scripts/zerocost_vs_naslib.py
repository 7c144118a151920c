#!/usr/bin/env python3
"""Our zero-cost proxies beside NAS-Bench-Suite-Zero's precomputed values (NASLib's
`naslib/data/zc_nasbench101.json`) on the same NB-101 cells: per proxy, Spearman's rho and
Kendall's tau-b of ours against theirs, and of each against the NB-101 validation accuracy
NASLib's file records for the cell. Standard library only (docs/zerocost.md).

  scripts/zerocost_vs_naslib.py specs NASLIB_JSON > specs.jsonl     # NASLib's cells as specs
  scripts/zerocost_vs_naslib.py compare NASLIB_JSON SCORES_JSONL [EXPECTED_JSON]

`compare` matches our `scores.jsonl` lines to NASLib's cells by matrix and ops; with the NB-101
fixtures' `expected.json` it also says which of NASLib's cells are among the fixture's hashes.
"""

import ast
import json
import math
import sys

# NASLib's op codes in its cell tuples (49 adjacency bits, then 7 op codes).
OPS = ["input", "output", "maxpool3x3", "conv1x1-bn-relu", "conv3x3-bn-relu"]
PROXIES = ["flops", "params", "snip", "jacov", "grad_norm", "plain", "fisher", "grasp",
           "l2_norm", "synflow"]


def naslib_cells(path):
    with open(path) as f:
        cells = json.load(f)["nasbench101"]["cifar10"]
    out = []
    for key, values in cells.items():
        t = ast.literal_eval(key)
        if len(t) != 56:
            raise SystemExit(f"{path}: cell {key[:40]}...: {len(t)} entries, not 49 + 7")
        matrix = [list(t[i * 7:(i + 1) * 7]) for i in range(7)]
        ops = [OPS[c] for c in t[49:]]
        out.append((matrix, ops, values))
    return out


def ranks(xs):
    order = sorted(range(len(xs)), key=lambda i: xs[i])
    r = [0.0] * len(xs)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and xs[order[j + 1]] == xs[order[i]]:
            j += 1
        for k in range(i, j + 1):
            r[order[k]] = (i + j) / 2.0
        i = j + 1
    return r


def pearson(x, y):
    n = len(x)
    mx, my = sum(x) / n, sum(y) / n
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y))
    sx = math.sqrt(sum((a - mx) ** 2 for a in x))
    sy = math.sqrt(sum((b - my) ** 2 for b in y))
    return sxy / (sx * sy) if sx > 0 and sy > 0 else float("nan")


def spearman(x, y):
    return pearson(ranks(x), ranks(y))


def kendall_tau_b(x, y):
    conc = disc = tx = ty = 0
    n = len(x)
    for i in range(n):
        for j in range(i + 1, n):
            dx, dy = x[i] - x[j], y[i] - y[j]
            if dx == 0 and dy == 0:
                continue
            if dx == 0:
                tx += 1
            elif dy == 0:
                ty += 1
            elif dx * dy > 0:
                conc += 1
            else:
                disc += 1
    denom = math.sqrt((conc + disc + tx) * (conc + disc + ty))
    return (conc - disc) / denom if denom > 0 else float("nan")


def fmt(v):
    return "–" if v != v else f"{v:.3f}"


def compare(naslib_path, scores_path, expected_path=None):
    theirs = {json.dumps([m, o]): v for m, o, v in naslib_cells(naslib_path)}
    ours = {}
    with open(scores_path) as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                ours[json.dumps([r["matrix"], r["ops"]])] = r
    both = [k for k in ours if k in theirs]
    print(f"{len(both)} of NASLib's {len(theirs)} cells scored by us ({scores_path})\n")
    if expected_path:
        with open(expected_path) as f:
            fixture = set(json.load(f)["models"])
        hashes = [ours[k]["hash"] for k in both]
        shared = [h for h in hashes if h in fixture]
        print(f"{len(shared)} of them among the hashes of {expected_path}\n")
    print("| proxy | n | ours vs NASLib: Spearman | Kendall | ours vs val. acc. | "
          "NASLib vs val. acc. (same cells) | NASLib vs val. acc. (all its cells) |")
    print("|---|---|---|---|---|---|---|")
    for p in PROXIES:
        pts = [(ours[k][p], theirs[k][p], theirs[k]["val_accuracy"]) for k in both
               if ours[k].get(p) is not None and theirs[k].get(p) is not None]
        allp = [(v[p], v["val_accuracy"]) for v in theirs.values() if v.get(p) is not None]
        if len(pts) < 3:
            print(f"| {p} | {len(pts)} | – | – | – | – | – |")
            continue
        o, t, a = zip(*pts)
        ta, aa = zip(*allp)
        print(f"| {p} | {len(pts)} | {fmt(spearman(o, t))} | {fmt(kendall_tau_b(o, t))} | "
              f"{fmt(spearman(o, a))} | {fmt(spearman(t, a))} | "
              f"{fmt(spearman(ta, aa))} (n = {len(allp)}) |")


def main(argv):
    if len(argv) >= 3 and argv[1] == "specs":
        for m, o, _ in naslib_cells(argv[2]):
            print(json.dumps({"matrix": m, "ops": o}))
    elif len(argv) in (4, 5) and argv[1] == "compare":
        compare(*argv[2:])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
