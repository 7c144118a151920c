"""The nb1s1 wheel from Python: open a store, query() by spec, batches to numpy, peak RSS.

Run with the release wheel installed (see README.md beside this file):

    python benches/python_api/bench.py --workdir /tmp/nb1s1-pybench

It writes a SYNTHETIC tfrecord of every unique model of search space 3 (cells keyed by their
real graph hash, made-up metrics; ``nb1s1.generate_from_specs``), converts it once into a store, then measures each figure in a fresh
process and prints a markdown table. Nothing here is the official data.
"""

import argparse
import json
import os
import subprocess
import sys
import time


def peak_rss_mib():
    """This process's peak RSS (VmHWM: unlike ru_maxrss it does not carry the parent's peak
    across fork and exec)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def api_worker(api, path, n, seed):
    """The same measurements for either ``nasbench.api`` (ours or the official one): load,
    query(spec) medians, get_metrics_from_hash median, and the seeded query sequence."""
    import contextlib
    import io
    import random
    import statistics

    out = {}
    t = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        nb = api.NASBench(path, seed=seed)
    out["load_s"] = time.perf_counter() - t
    marker = "13b1fad968522d391f7f32295e0d8cc9"  # the generator's SYNTHETIC marker record
    hashes = [h for h in list(nb.hash_iterator())[: n + 1] if h != marker][:n]
    cells = [(nb.fixed_statistics[h]["module_adjacency"].tolist(),
              list(nb.fixed_statistics[h]["module_operations"])) for h in hashes]
    specs = [api.ModelSpec(m, o) for m, o in cells]

    def median_us(fn, items):
        times = []
        for x in items:
            t = time.perf_counter_ns()
            fn(x)
            times.append(time.perf_counter_ns() - t)
        return statistics.median(times) / 1e3

    random.seed(seed)
    seq = []
    for s in specs:
        t = time.perf_counter_ns()
        d = nb.query(s)
        seq.append(time.perf_counter_ns() - t)
    out["query_median_us"] = statistics.median(seq) / 1e3
    out["query_again_median_us"] = median_us(nb.query, specs)
    out["spec_and_query_median_us"] = median_us(lambda mo: nb.query(api.ModelSpec(*mo)), cells)
    out["metrics_from_hash_median_us"] = median_us(nb.get_metrics_from_hash, hashes)
    random.seed(seed)
    out["sequence"] = [repr(nb.query(s)["validation_accuracy"]) for s in specs[:2000]]
    out["sequence_halfway"] = [repr(nb.query(s, stop_halfway=True)["test_accuracy"]) for s in specs[:2000]]
    out["budget"] = list(nb.get_budget_counters())
    del d
    return out


def official_child(src, path, n):
    """The official API under TensorFlow, with the shims of benches/official_api."""
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, os.path.join(here, "..", "official_api"))
    from run_official import import_official

    t0 = time.perf_counter()
    api, versions = import_official(src, "upb")
    out = {"import_s": time.perf_counter() - t0, "versions": versions}
    out.update(api_worker(api, path, n, seed=0))
    out["peak_rss_mib"] = peak_rss_mib()
    print(json.dumps(out))


def child(kind, store, n):
    """One measurement in this (fresh) process; prints a JSON line."""

    import numpy as np

    t0 = time.perf_counter()
    import nb1s1
    from nasbench import api

    imported = time.perf_counter() - t0
    out = {"import_s": imported}
    if kind == "open":
        t = time.perf_counter()
        nb1s1.Store(store)
        out["open_ms"] = (time.perf_counter() - t) * 1e3
        t = time.perf_counter()
        api.NASBench(store, seed=0)
        out["nasbench_open_ms"] = (time.perf_counter() - t) * 1e3
    elif kind == "query":
        out.update(api_worker(api, store, n, seed=0))
    elif kind == "batch":
        db = nb1s1.NB101(store)
        hashes = db.hashes()
        idx = np.arange(len(hashes)) % len(hashes)
        mats = np.zeros((n, 7, 7), dtype=np.uint8)
        ops = np.zeros((n, 7), dtype=np.uint8)
        for j, i in enumerate(idx[:n] if n <= len(hashes) else np.resize(idx, n)):
            flat, v, names, _ = db._store.fixed(int(i))
            m = np.frombuffer(flat, np.uint8).reshape(v, v)
            mats[j, : v - 1, : v - 1] = m[: v - 1, : v - 1]
            mats[j, : v - 1, 6] = m[: v - 1, v - 1]
            ops[j, 1 : v - 1] = [nb1s1.AVAILABLE_OPS.index(o) for o in names[1:-1]]
        t = time.perf_counter()
        vals = db.query_specs(mats, ops)
        out["batch_specs_s"] = time.perf_counter() - t
        out["batch_found"] = int((~np.isnan(vals[:, 0, 7])).sum())
        t = time.perf_counter()
        db.query_hashes(hashes[:n])
        out["batch_hashes_s"] = time.perf_counter() - t
    out["peak_rss_mib"] = peak_rss_mib()
    print(json.dumps(out))


def run_child(kind, store, n, python=None, src=None):
    cmd = [python or sys.executable, __file__, "--child", kind, "--store", store, "--n", str(n)]
    if src:
        cmd += ["--nasbench-src", src]
    r = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(r.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--queries", type=int, default=20_000)
    ap.add_argument("--batch", type=int, default=100_000)
    ap.add_argument("--repeats", type=int, default=5, help="fresh processes per open figure")
    ap.add_argument("--workdir", default="/tmp/nb1s1-pybench")
    ap.add_argument("--official-python", help="a Python with tensorflow (side by side)")
    ap.add_argument("--nasbench-src", help="a checkout of google-research/nasbench")
    ap.add_argument("--child")
    ap.add_argument("--store")
    ap.add_argument("--n", type=int)
    a = ap.parse_args()
    if a.child == "official":
        return official_child(a.nasbench_src, a.store, a.n)
    if a.child:
        return child(a.child, a.store, a.n)

    import nb1s1

    os.makedirs(a.workdir, exist_ok=True)
    tf = os.path.join(a.workdir, "synspace3.tfrecord")
    store = os.path.splitext(tf)[0] + ".store"
    if not os.path.exists(store):
        # Every unique NB-101 model of search space 3 (55,854 true-hash cells).
        t = time.perf_counter()
        space = nb1s1.SearchSpace(3)
        cells = [space.to_nb101(arch) for _, arch in space.unique_models()]
        import numpy as np

        nb1s1.generate_from_specs(tf, np.stack([c[0] for c in cells]), [c[1] for c in cells])
        print("generated %s in %.1f s" % (tf, time.perf_counter() - t), file=sys.stderr)
        t = time.perf_counter()
        nb1s1.convert(tf, store, progress=False)
        print("converted in %.2f s" % (time.perf_counter() - t), file=sys.stderr)
    size = os.path.getsize(store) / 2**20
    opens = [run_child("open", store, 0) for _ in range(a.repeats)]
    q = run_child("query", store, a.queries)
    off = None
    if a.official_python:
        off = run_child("official", tf, a.queries, a.official_python, a.nasbench_src)
        same = off["sequence"] == q["sequence"] and off["sequence_halfway"] == q["sequence_halfway"]
    b = run_child("batch", store, a.batch)
    med = lambda xs: sorted(xs)[len(xs) // 2]  # noqa: E731
    load = os.getloadavg()[0]
    print("| measurement (SYNTHETIC file of space 3's %d models, store %.1f MiB, load %.1f) | ours |%s" % (len(nb1s1.Store(store)), size, load, " official |" if off else ""))
    print("|---|---|%s" % ("---|" if off else ""))
    if off:
        print("| `api.NASBench(...)` load: ours the store, official the tfrecord | %.1f s | %.1f s |" % (q["load_s"], off["load_s"]))
        print("| `query(spec)` median, first sighting / again / with `ModelSpec(...)` | %.1f / %.1f / %.1f µs | %.1f / %.1f / %.1f µs |" % (
            q["query_median_us"], q["query_again_median_us"], q["spec_and_query_median_us"],
            off["query_median_us"], off["query_again_median_us"], off["spec_and_query_median_us"]))
        print("| `get_metrics_from_hash` median | %.1f µs | %.1f µs |" % (q["metrics_from_hash_median_us"], off["metrics_from_hash_median_us"]))
        print("| peak RSS of the query process | %.0f MiB | %.0f MiB |" % (q["peak_rss_mib"], off["peak_rss_mib"]))
        print("| seeded sequence, %d queries final + %d halfway, bit for bit | %s | |" % (len(q["sequence"]), len(q["sequence_halfway"]), "identical" if same else "DIFFERENT"))
        print("| budget counters after the run | %r | %r |" % (q["budget"], off["budget"]))
        print("\nofficial: %s" % off["versions"])
    print("| `import nb1s1, nasbench.api` (median of %d fresh processes) | %.0f ms |" % (a.repeats, med([o["import_s"] for o in opens]) * 1e3))
    print("| open the store: `nb1s1.Store` / `api.NASBench(store)` (medians) | %.2f ms / %.2f ms |" % (med([o["open_ms"] for o in opens]), med([o["nasbench_open_ms"] for o in opens])))
    print("| `NASBench.query(spec)` median, %d specs, first sighting / again | %.1f µs / %.1f µs |" % (a.queries, q["query_median_us"], q["query_again_median_us"]))
    print("| `get_metrics_from_hash` median | %.1f µs |" % q["metrics_from_hash_median_us"])
    print("| `NB101.query_specs`, %d specs to a numpy (n, 3, 8) array | %.3f s (%d found) |" % (a.batch, b["batch_specs_s"], b["batch_found"]))
    print("| `NB101.query_hashes`, all %d hashes | %.3f s |" % (len(nb1s1.Store(store)), b["batch_hashes_s"]))
    print("| peak RSS: query process / batch process / store size | %.0f / %.0f / %.1f MiB |" % (q["peak_rss_mib"], b["peak_rss_mib"], size))


if __name__ == "__main__":
    main()
