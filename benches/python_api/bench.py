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
    cpu = time.process_time()
    for s in specs:
        t = time.perf_counter_ns()
        d = nb.query(s)
        seq.append(time.perf_counter_ns() - t)
    # CPU time per query (the loop's own overhead included): steadier than wall time on a
    # shared host, where other processes preempt this one.
    out["query_cpu_us"] = (time.process_time() - cpu) / len(specs) * 1e6
    out["query_median_us"] = statistics.median(seq) / 1e3
    cpu = time.process_time()
    out["query_again_median_us"] = median_us(nb.query, specs)
    out["query_again_cpu_us"] = (time.process_time() - cpu) / len(specs) * 1e6
    out["spec_and_query_median_us"] = median_us(lambda mo: nb.query(api.ModelSpec(*mo)), cells)
    out["metrics_from_hash_median_us"] = median_us(nb.get_metrics_from_hash, hashes)
    random.seed(seed)
    out["sequence"] = [repr(nb.query(s)["validation_accuracy"]) for s in specs[:2000]]
    out["sequence_halfway"] = [repr(nb.query(s, stop_halfway=True)["test_accuracy"]) for s in specs[:2000]]
    out["budget"] = list(nb.get_budget_counters())
    del d
    return out


def rss_worker(api, path):
    """A query script over the whole table through the compatibility mappings: every hash,
    its fixed and computed statistics (the official example's "best model" loop), so every
    page of the store is read once."""
    import contextlib
    import io

    t = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        nb = api.NASBench(path)
    best, best_acc, n = None, -1.0, 0
    for h in nb.hash_iterator():
        fixed, computed = nb.get_metrics_from_hash(h)
        acc = sum(r["final_validation_accuracy"] for r in computed[108]) / len(computed[108])
        if acc > best_acc and fixed["trainable_parameters"] > 0:
            best, best_acc = h, acc
        n += 1
    return {"rss_models": n, "rss_best": best, "rss_s": time.perf_counter() - t}


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
        t, cpu = time.perf_counter(), time.process_time()
        vals = db.query_specs(mats, ops)
        out["batch_specs_s"] = time.perf_counter() - t
        out["batch_specs_cpu_s"] = time.process_time() - cpu  # both cores' time
        out["batch_found"] = int((~np.isnan(vals[:, 0, 7])).sum())
        t = time.perf_counter()
        db.query_hashes(hashes[:n])
        out["batch_hashes_s"] = time.perf_counter() - t
    elif kind == "rss":
        out["before_open_mib"] = peak_rss_mib()
        out.update(rss_worker(api, store))
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
    ap.add_argument("--runs", type=int, default=3, help="fresh query and batch processes")
    ap.add_argument("--rss-models", type=int, default=423_624,
                    help="models of the SYNTHETIC random-hash table of the RSS figure (0: skip)")
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
    bigs = [big_store(a.workdir, a.rss_models, full) for full in (False, True)] if a.rss_models else []
    loads = [os.getloadavg()[0]]
    opens = [run_child("open", store, 0) for _ in range(a.repeats)]
    qs = [run_child("query", store, a.queries) for _ in range(a.runs)]
    loads.append(os.getloadavg()[0])
    off = None
    if a.official_python:
        off = run_child("official", tf, a.queries, a.official_python, a.nasbench_src)
        same = all(off["sequence"] == q["sequence"] and off["sequence_halfway"] == q["sequence_halfway"]
                   for q in qs)
    bs = [run_child("batch", store, a.batch) for _ in range(a.runs)]
    rs = [(big, run_child("rss", big, 0)) for big in bigs]
    loads.append(os.getloadavg()[0])
    med = lambda xs: sorted(xs)[len(xs) // 2]  # noqa: E731
    runs = lambda rows, k, f="%.1f": " / ".join(f % x[k] for x in rows)  # noqa: E731
    q = qs[0]
    print("SYNTHETIC file of space 3's %d models, store %.1f MiB; load average %s (1 min, "
          "sampled before, between and after)" % (len(nb1s1.Store(store)), size,
                                                   " / ".join("%.1f" % x for x in loads)))
    print()
    print("| measurement | ours (run %s; median) |%s" % (" / ".join(str(i + 1) for i in range(a.runs)), " official |" if off else ""))
    print("|---|---|%s" % ("---|" if off else ""))
    def row(label, k, f="%.1f", unit="µs", off_f=None):
        line = "| %s | %s %s; **%s** |" % (label, runs(qs, k, f), unit, f % med([x[k] for x in qs]))
        if off:
            line += " %s %s |" % (f % off[k], unit)
        print(line)
    if off:
        print("| `api.NASBench(...)` load: ours the store, official the tfrecord | %s ms | %.1f s |" % (
            " / ".join("%.1f" % (x["load_s"] * 1e3) for x in qs), off["load_s"]))
    row("`query(spec)` median over %d specs, first sighting" % a.queries, "query_median_us")
    row("CPU time per first-sighting query (mean)", "query_cpu_us")
    row("the same specs queried again", "query_again_median_us")
    row("CPU time per query again (mean)", "query_again_cpu_us")
    row("`ModelSpec(...)` built in the loop, then `query`", "spec_and_query_median_us")
    row("`get_metrics_from_hash` median", "metrics_from_hash_median_us")
    row("peak RSS (VmHWM) of the query process", "peak_rss_mib", "%.0f", "MiB")
    if off:
        print("| seeded sequence, %d final + %d halfway answers, bit for bit | %s | |" % (len(q["sequence"]), len(q["sequence_halfway"]), "identical in every run" if same else "DIFFERENT"))
        print("| budget counters after the run | %r | %r |" % (q["budget"], off["budget"]))
        print("\nofficial: %s" % off["versions"])
    print()
    print("| ours only | |")
    print("|---|---|")
    print("| `import nb1s1, nasbench.api` (median of %d fresh processes) | %.0f ms |" % (a.repeats, med([o["import_s"] for o in opens]) * 1e3))
    print("| open the store: `nb1s1.Store` / `api.NASBench(store)` (medians of %d) | %.2f ms / %.2f ms |" % (a.repeats, med([o["open_ms"] for o in opens]), med([o["nasbench_open_ms"] for o in opens])))
    print("| `NB101.query_specs`: %d specs to a float64 (n, 3, 8) array (runs; median) | %s s; **%.3f s** (%d found) |" % (
        a.batch, runs(bs, "batch_specs_s", "%.3f"), med([b["batch_specs_s"] for b in bs]), bs[0]["batch_found"]))
    print("| CPU time of that batch, both cores (runs) | %s s |" % runs(bs, "batch_specs_cpu_s", "%.3f"))
    print("| `NB101.query_hashes`: all %d hashes (runs) | %s s |" % (len(nb1s1.Store(store)), runs(bs, "batch_hashes_s", "%.3f")))
    print("| peak RSS: batch process / store | %s / %.1f MiB |" % (runs(bs, "peak_rss_mib", "%.0f"), size))
    for big, r in rs:
        bsize = os.path.getsize(big) / 2**20
        print("| RSS script: `hash_iterator` + `get_metrics_from_hash` over all %d models of `%s` (SYNTHETIC, random hashes; %.1f s) | peak %.0f MiB (%.0f MiB after the imports) for a %.1f MiB store: **%.2fx** |" % (
            r["rss_models"], os.path.basename(big), r["rss_s"], r["peak_rss_mib"], r["before_open_mib"], bsize, r["peak_rss_mib"] / bsize))


def big_store(workdir, models, full=False):
    """A SYNTHETIC table of a released file's shape (random hashes, cells of 3 to 7
    vertices; 108 epochs, or all four budgets with ``full``), made once by the engine's
    generator and converted into a store."""
    import nb1s1

    store = os.path.join(workdir, "syn%s-%d.store" % ("full" if full else "108", models))
    if not os.path.exists(store):
        tf = os.path.splitext(store)[0] + ".tfrecord"
        t = time.perf_counter()
        budgets = [4, 12, 36, 108] if full else [108]
        nb1s1.generate(tf, models, budgets=budgets, repeats=3, seed=1, true_hashes=False)
        nb1s1.convert(tf, store, progress=False)
        os.remove(tf)
        print("made %s in %.1f s" % (store, time.perf_counter() - t), file=sys.stderr)
    return store


if __name__ == "__main__":
    main()
