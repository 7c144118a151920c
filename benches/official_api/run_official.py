#!/usr/bin/env python3
"""The official NAS-Bench-101 Python API (google-research/nasbench) beside ours, on one machine.

For each --tfrecord it measures, in a fresh worker process per file:
  official: NASBench(file) load (wall, CPU, peak RSS), query(spec) and get_metrics_from_hash
            medians, a scan (mean final test accuracy at 108 epochs over all runs);
  ours:     `nb101cli nb101 bench` (convert, open store, queries, scan), opening the tfrecord and
            the store in a fresh process, and a query process (N queries) with its peak RSS;
then prints one markdown table per file. With --check FILE it also compares the official
query()/get_metrics_from_spec()/hash with ours (`query --python-seed`), field by field, bit for bit.

The official code is imported from --nasbench-src (a checkout of google-research/nasbench); it is
TF1 code, so the worker applies these shims and nothing else (see README.md):
  1. `nasbench.lib.evaluate` (training only; imports TF1 estimator code) is replaced by a stub
     module that raises if used;
  2. after `import nasbench.api`, its module global `tf` is set to `tensorflow.compat.v1`
     (api.py uses `tf.python_io.tf_record_iterator`, gone from the TF2 namespace);
  3. protobuf: the 2019 generated `model_metrics_pb2.py` only loads with the pure-Python protobuf
     (PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION=python, --protobuf python, the default). With
     --protobuf upb the module is replaced by classes built by the fast upb runtime from that
     file's own serialized descriptor (read in a pure-Python subprocess), i.e. what regenerating
     the file would give.
"""
import argparse
import json
import os
import random
import resource
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import types

FIELDS = ["training_time", "train_accuracy", "validation_accuracy", "test_accuracy"]
REPEAT_FIELDS = [p + k for p in ("halfway_", "final_") for k in FIELDS]
# First record of files made by `nb1s1 nb101 generate`; the official API loads it as a model.
SYNTHETIC_MARKER = "13b1fad968522d391f7f32295e0d8cc9"


def rss_peak_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def load1():
    return round(os.getloadavg()[0], 1)


# ---------------------------------------------------------------- official side (worker)


def import_official(src, protobuf):
    """Imports nasbench.api from `src` with the shims listed in the module docstring."""
    if protobuf == "python":
        os.environ["PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION"] = "python"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.path.insert(0, src)
    stub = types.ModuleType("nasbench.lib.evaluate")

    def _no_training(*_a, **_k):
        raise RuntimeError("nasbench.lib.evaluate is stubbed out (training is not needed)")

    stub.train_and_evaluate = _no_training
    stub.__getattr__ = lambda name: _no_training
    sys.modules["nasbench.lib.evaluate"] = stub
    if protobuf == "upb":
        code = ("import sys; sys.path.insert(0, sys.argv[1]); "
                "from nasbench.lib import model_metrics_pb2 as m; "
                "sys.stdout.buffer.write(m.DESCRIPTOR.serialized_pb)")
        env = dict(os.environ, PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION="python")
        blob = subprocess.run([sys.executable, "-c", code, src], env=env, check=True,
                              stdout=subprocess.PIPE).stdout
        from google.protobuf import descriptor_pool, message_factory
        pool = descriptor_pool.DescriptorPool()
        pool.AddSerializedFile(blob)
        pb2 = types.ModuleType("nasbench.lib.model_metrics_pb2")
        for name in ("ModelMetrics", "EvaluationData"):
            desc = pool.FindMessageTypeByName("nasbench." + name)
            setattr(pb2, name, message_factory.GetMessageClass(desc))
        sys.modules["nasbench.lib.model_metrics_pb2"] = pb2
    import tensorflow
    from nasbench import api
    api.tf = tensorflow.compat.v1
    from google.protobuf.internal import api_implementation
    versions = "Python %d.%d, TF %s, protobuf %s (%s)" % (
        sys.version_info[0], sys.version_info[1], tensorflow.__version__,
        __import__("google.protobuf").protobuf.__version__, api_implementation.Type())
    return api, versions


def median_us(fn, items):
    times = []
    for x in items:
        t = time.perf_counter_ns()
        fn(x)
        times.append(time.perf_counter_ns() - t)
    return statistics.median(times) / 1e3


def cpu_mean_us(fn, items):
    c = time.process_time()
    for x in items:
        fn(x)
    return (time.process_time() - c) / len(items) * 1e6


def worker_official(a):
    t = time.perf_counter()
    api, versions = import_official(a.nasbench_src, a.protobuf)
    out = {"versions": versions, "import_s": time.perf_counter() - t,
           "rss_after_import_mib": rss_peak_mib(), "load_load": load1()}
    t, c = time.perf_counter(), time.process_time()
    nb = api.NASBench(a.tfrecord, seed=a.seed)
    out.update(load_s=time.perf_counter() - t, load_cpu_s=time.process_time() - c)
    rng = random.Random(a.seed + 1)  # never the global `random`, which query() draws from
    hashes = [h for h in nb.hash_iterator() if h != SYNTHETIC_MARKER]
    out["models"] = len(hashes)
    out["marker"] = len(hashes) != len(nb.fixed_statistics)
    picks = [rng.choice(hashes) for _ in range(a.hash_queries)]
    with open(os.path.join(a.workdir, "hashes.jsonl"), "w") as f:
        f.writelines(json.dumps({"hash": h}) + "\n" for h in picks[:a.queries])
    out["hash_load"] = load1()
    out["by_hash_us"] = median_us(nb.get_metrics_from_hash, picks)
    out["by_hash_cpu_us"] = cpu_mean_us(nb.get_metrics_from_hash, picks)

    cells = [(nb.fixed_statistics[h]["module_adjacency"].tolist(),
              list(nb.fixed_statistics[h]["module_operations"]), h) for h in picks[:a.queries]]
    ops_order = nb.config["available_ops"]
    true_hashes = all(api.ModelSpec(m, o).hash_spec(ops_order) == h for m, o, h in cells[:50])
    out["true_hashes"] = true_hashes
    if true_hashes:
        with open(os.path.join(a.workdir, "specs.jsonl"), "w") as f:
            f.writelines(json.dumps({"matrix": m, "ops": o}) + "\n" for m, o, _ in cells)
        specs = [api.ModelSpec(m, o) for m, o, _ in cells]
        out["spec_load"] = load1()
        out["spec_query_us"] = median_us(lambda mo: nb.query(api.ModelSpec(*mo)),
                                         [(m, o) for m, o, _ in cells])
        out["query_us"] = median_us(nb.query, specs)
        out["query_cpu_us"] = cpu_mean_us(nb.query, specs)
        out["hash_us"] = median_us(lambda s: s.hash_spec(ops_order), specs)
        out["hash_cpu_us"] = cpu_mean_us(lambda s: s.hash_spec(ops_order), specs)

    out["scan_load"] = load1()
    t, c = time.perf_counter(), time.process_time()
    total, n = 0.0, 0
    for h in hashes:
        for point in nb.computed_statistics[h][108]:
            total += point["final_test_accuracy"]
            n += 1
    out.update(scan_s=time.perf_counter() - t, scan_cpu_s=time.process_time() - c,
               scan_mean=total / n, scan_runs=n)
    t = time.perf_counter()
    total = 0.0
    for h in hashes:
        total += sum(p["final_test_accuracy"] for p in nb.get_metrics_from_hash(h)[1][108])
    out["scan_api_s"] = time.perf_counter() - t
    out["rss_peak_mib"] = rss_peak_mib()
    print("RESULT " + json.dumps(out))


def relabel_topological(matrix, ops, rng):
    """The same cell with its vertices renumbered in a random topological order."""
    v = len(ops)
    indeg = [sum(matrix[i][j] for i in range(v)) for j in range(v)]
    ready, order = [0], []
    while ready:
        x = ready.pop(rng.randrange(len(ready)))
        order.append(x)
        for j in range(v):
            if matrix[x][j]:
                indeg[j] -= 1
                if indeg[j] == 0:
                    ready.append(j)
    new = {old: i for i, old in enumerate(order)}
    m = [[0] * v for _ in range(v)]
    for i in range(v):
        for j in range(v):
            if matrix[i][j]:
                m[new[i]][new[j]] = 1
    return m, [ops[old] for old in order]


def add_dangling(matrix, ops):
    """An extra vertex fed by the input and feeding nothing: pruning must remove it."""
    v = len(ops)
    m = [row[:v - 1] + [0] + row[v - 1:] for row in matrix]
    m.insert(v - 1, [0] * (v + 1))
    m[0][v - 1] = 1
    return m, ops[:v - 1] + ["conv3x3-bn-relu"] + ops[v - 1:]


def check_items(nb, api, count, rng):
    """Specs from the file (as stored, renumbered, with a dangling vertex) and invalid specs."""
    hashes = [h for h in nb.hash_iterator() if h != SYNTHETIC_MARKER]
    known = set(hashes)
    full7 = [[1 if j > i else 0 for j in range(7)] for i in range(7)]
    ops7 = ["input"] + ["conv3x3-bn-relu"] * 5 + ["output"]
    items = []
    for i, h in enumerate(rng.sample(hashes, count)):
        m = nb.fixed_statistics[h]["module_adjacency"].tolist()
        o = list(nb.fixed_statistics[h]["module_operations"])
        if i % 3 == 1:
            m, o = relabel_topological(m, o, rng)
        elif i % 3 == 2:
            m, o = add_dangling(m, o)
        items.append((m, o))
        if i % 10 == 9:
            kind = (i // 10) % 5
            if kind == 0:
                items.append(([[0] * len(o)] + m[1:], o))  # disconnected
            elif kind == 1:
                items.append((m, o[:1] + ["conv5x5-bn-relu"] + o[2:]))  # unsupported op
            elif kind == 2:
                items.append((full7, ops7))  # too many edges
            elif kind == 3:
                items.append(([r[:] for r in m[::-1]], o))  # not upper triangular
            else:
                while True:  # a valid cell that is not in the file
                    bits = [[1 if j > i2 and rng.random() < 0.4 else 0 for j in range(7)]
                            for i2 in range(7)]
                    ops = ["input"] + [rng.choice(nb.config["available_ops"])
                                       for _ in range(5)] + ["output"]
                    s = api.ModelSpec(bits, ops)
                    if nb.is_valid(s) and s.hash_spec(nb.config["available_ops"]) not in known:
                        items.append((bits, ops))
                        break
    return items


def official_error(e):
    msg = str(e)
    if isinstance(e, KeyError):
        return "unknown_hash"
    for text, code in (("disconnected", "disconnected"), ("too many edges", "too_many_edges"),
                       ("too many vertices", "too_many_vertices"),
                       ("unsupported op", "unsupported_op"), ("upper triangular",
                                                                "not_upper_triangular"),
                       ("first operation", "bad_input_output"),
                       ("last operation", "bad_input_output")):
        if text in msg:
            return code
    return type(e).__name__ + ": " + msg


def worker_check(a):
    api, _ = import_official(a.nasbench_src, a.protobuf)
    nb = api.NASBench(a.tfrecord, seed=a.seed)
    items = check_items(nb, api, a.check_count, random.Random(a.seed + 2))
    ops_order = nb.config["available_ops"]

    def run_pass(stop_halfway):
        random.seed(a.seed)  # the same reseeding NASBench(file, seed=S) does at construction
        res = []
        for m, o in items:
            try:
                spec = api.ModelSpec(m, o)
                d = nb.query(spec, 108, stop_halfway)
                r = {k: d[k] for k in ["module_operations", "trainable_parameters"] + FIELDS}
                r["module_adjacency"] = d["module_adjacency"].tolist()
                r["hash"] = spec.hash_spec(ops_order)
                res.append(r)
            except Exception as e:  # noqa: BLE001 - the error kind is what is compared
                res.append({"error": official_error(e)})
        return res

    out = {"items": [{"matrix": m, "ops": o} for m, o in items],
           "query": run_pass(False), "query_halfway": run_pass(True), "all_repeats": [],
           "hash": []}
    for m, o in items:  # the hash of a spec in the space, else the error _check_spec raises
        try:
            spec = api.ModelSpec(m, o)
            nb._check_spec(spec)  # what is_valid() and query() call
            out["hash"].append({"hash": spec.hash_spec(ops_order)})
        except Exception as e:  # noqa: BLE001
            out["hash"].append({"error": official_error(e)})
    for m, o in items:
        try:
            fixed, comp = nb.get_metrics_from_spec(api.ModelSpec(m, o))
            out["all_repeats"].append([{k: p[k] for k in REPEAT_FIELDS} for p in comp[108]])
        except Exception as e:  # noqa: BLE001
            out["all_repeats"].append({"error": official_error(e)})
    print("RESULT " + json.dumps(out))


# ---------------------------------------------------------------- our side and the table


def run_measured(cmd, stdout=subprocess.PIPE):
    """Runs `cmd`; returns (stdout, rc, wall s, CPU s, peak RSS MiB) of that process alone."""
    err = tempfile.TemporaryFile()
    t = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=stdout, stderr=err)
    out = p.stdout.read() if stdout == subprocess.PIPE else b""
    _, status, ru = os.wait4(p.pid, 0)  # not p.wait(): wait4 gives this child's own rusage
    wall = time.perf_counter() - t
    err.seek(0)
    err = err.read()
    rc = os.waitstatus_to_exitcode(status)
    p.returncode = rc
    if rc not in (0, 1):
        sys.exit("%s failed (%d): %s" % (" ".join(cmd), rc, err.decode()[-2000:]))
    return out.decode(), rc, wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024.0


def worker(a, mode, tfrecord):
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", mode, "--nasbench-src",
           a.nasbench_src, "--tfrecord", tfrecord, "--seed", str(a.seed), "--queries",
           str(a.queries), "--hash-queries", str(a.hash_queries), "--check-count",
           str(a.check_count), "--protobuf", a.protobuf, "--workdir", a.workdir]
    out, _, wall, cpu, rss = run_measured(cmd)
    line = [x for x in out.splitlines() if x.startswith("RESULT ")][-1]
    return json.loads(line[7:]), wall, cpu, rss


def bench_rows(text):
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 2:
            rows[cells[0]] = cells[1]
    return rows


def pick(rows, prefix):
    return next((v for k, v in rows.items() if k.startswith(prefix)), "n/a")


def compare_file(a, tfrecord):
    o, _, _, worker_rss = worker(a, "official", tfrecord)
    store = os.path.join(a.workdir, "store.nb101")
    ours = {"bench_load": load1()}
    text = run_measured([a.nb101cli, "nb101", "bench", "--tfrecord", tfrecord, "--store", store,
                         "--samples", str(a.hash_queries)])[0]
    rows = bench_rows(text)
    ours["open_tf_load"] = load1()
    ours["open_tf"] = run_measured([a.nb101cli, "nb101", "info", "--json", "--nb101", tfrecord])
    ours["open_store"] = run_measured([a.nb101cli, "nb101", "info", "--json", "--nb101", store])
    batch = os.path.join(a.workdir, "specs.jsonl" if o["true_hashes"] else "hashes.jsonl")
    ours["query_load"] = load1()
    ours["query"] = run_measured([a.nb101cli, "nb101", "query", "--json", "--batch", batch,
                                  "--nb101", store], stdout=subprocess.DEVNULL)
    os.remove(store)
    n_q = sum(1 for _ in open(batch))
    f = "%.1f µs"
    spec = "n/a (random hashes)"
    table = [
        ("load / open", "`NASBench(file)`: %.1f s wall, %.1f s CPU" % (o["load_s"],
         o["load_cpu_s"]), o["load_load"],
         "tfrecord (`info`, fresh process): %.2f s wall, %.2f s CPU; store: open %s "
         "(median of 25), fresh process %.0f ms wall" % (ours["open_tf"][2], ours["open_tf"][3],
                                                        pick(rows, "open store"),
                                                        ours["open_store"][2] * 1e3),
         ours["open_tf_load"]),
        ("peak RSS", "%.0f MiB (%.0f MiB after `import nasbench.api`, TF included)"
         % (max(o["rss_peak_mib"], worker_rss), o["rss_after_import_mib"]), o["load_load"],
         "tfrecord in memory %.0f MiB; store query process (%d queries) %.0f MiB"
         % (ours["open_tf"][4], n_q, ours["query"][4]), ours["query_load"]),
        ("query by spec, median (official: `query()` on a built `ModelSpec`; ours: first "
         "sighting)", f % o["query_us"] if o["true_hashes"] else spec, o.get("spec_load", ""),
         pick(rows, "query by spec, first sighting").replace("n/a", spec), ours["bench_load"]),
        ("`ModelSpec(matrix, ops)` + `query()`, median",
         f % o["spec_query_us"] if o["true_hashes"] else spec, o.get("spec_load", ""), "", ""),
        ("query by spec, CPU per call (mean; ours: revisited cell)",
         f % o["query_cpu_us"] if o["true_hashes"] else spec, o.get("spec_load", ""),
         pick(rows, "query by spec, revisited, CPU").replace("n/a", spec), ours["bench_load"]),
        ("graph hash alone (official `hash_spec` median / CPU mean; ours CPU mean)",
         "%.1f / %.1f µs" % (o["hash_us"], o["hash_cpu_us"]) if o["true_hashes"] else spec,
         o.get("spec_load", ""), pick(rows, "check + graph hash").replace("n/a", spec),
         ours["bench_load"]),
        ("query by hash, median / CPU mean (`get_metrics_from_hash`)",
         "%.1f / %.1f µs" % (o["by_hash_us"], o["by_hash_cpu_us"]),
         o["hash_load"], pick(rows, "query by hash"), ours["bench_load"]),
        ("scan: mean final test accuracy at 108 epochs, all runs",
         "%.0f ms wall / %.0f ms CPU over the dicts (mean %.6f, %d runs); %.1f s through "
         "`get_metrics_from_hash`" % (o["scan_s"] * 1e3, o["scan_cpu_s"] * 1e3, o["scan_mean"],
                                      o["scan_runs"], o["scan_api_s"]), o["scan_load"],
         pick(rows, "scan"), ours["bench_load"]),
        ("%d queries by %s in one process (ours: `query --json --batch`, store)"
         % (n_q, "spec" if o["true_hashes"] else "hash"), "", "",
         "%.2f s wall, %.2f s CPU" % (ours["query"][2], ours["query"][3]), ours["query_load"]),
    ]
    print("\n### %s (%d models%s)\n" % (os.path.basename(tfrecord), o["models"],
          "; the official API also loads the SYNTHETIC marker record as a model, left out of "
          "the samples and the scan" if o["marker"] else ""))
    print("official: %s; import %.1f s. ours: %s\n" % (o["versions"], o["import_s"],
                                                       a.nb101cli))
    print("| measurement | official API | load | ours | load |\n|---|---|---|---|---|")
    for r in table:
        print("| %s | %s | %s | %s | %s |" % r)
    sys.stdout.flush()


def bits_equal(x, y):
    if isinstance(x, float) or isinstance(y, float):
        return (isinstance(x, float) and isinstance(y, float)
                and struct.pack("<d", x) == struct.pack("<d", y))
    return x == y and type(x) is type(y)


def check(a):
    o = worker(a, "check", a.check)[0]
    batch = os.path.join(a.workdir, "check.jsonl")
    with open(batch, "w") as f:
        f.writelines(json.dumps(x) + "\n" for x in o["items"])
    store = os.path.join(a.workdir, "check.nb101")
    run_measured([a.nb101cli, "nb101", "convert", a.check, store])

    def ours(*args):
        out = run_measured([a.nb101cli, "nb101", *args, "--json", "--batch", batch])[0]
        return [json.loads(x) for x in out.splitlines() if x.strip()]

    mismatches, compared = [], 0

    def compare(where, mine, theirs, keys):
        nonlocal compared
        if len(mine) != len(theirs):
            mismatches.append((where, "item count", len(mine), len(theirs)))
        for i, (m, t) in enumerate(zip(mine, theirs)):
            for k in (["error"] if "error" in t else keys or list(t)):
                compared += 1
                if not bits_equal(m.get(k), t[k]):
                    mismatches.append((where, i, k, m.get(k), t[k]))

    for data in (a.check, store):
        name = os.path.basename(data)
        seed = ["--python-seed", str(a.seed), "--nb101", data]
        compare(name + " query", ours("query", *seed), o["query"], None)
        compare(name + " query halfway", ours("query", "--stop-halfway", *seed),
                o["query_halfway"], None)
        compare(name + " hash", ours("hash"), o["hash"], ["hash"])
        mine = ours("query", "--all-repeats", *seed)
        if len(mine) != len(o["all_repeats"]):
            mismatches.append((name + " all-repeats", "item count", len(mine)))
        for i, (m, t) in enumerate(zip(mine, o["all_repeats"])):
            if isinstance(t, dict):
                compare(name + " all-repeats #%d" % i, [m], [t], None)
            else:
                compare(name + " all-repeats #%d" % i, m.get("repeats", []), t, REPEAT_FIELDS)
    os.remove(store)
    valid = sum(1 for t in o["query"] if "error" not in t)
    codes = sorted({t["error"] for t in o["query"] if "error" in t})
    print("\n### Correctness: %s, seed %d\n" % (os.path.basename(a.check), a.seed))
    print("%d specs (%d valid: as stored, renumbered, with a dangling vertex; %d invalid: %s), "
          "on the tfrecord and on the store: official `query()` (final and halfway), "
          "`get_metrics_from_spec()` and `hash_spec()` against ours (`query --python-seed %d`, "
          "`query --all-repeats`, `hash`): %d values compared, %d mismatches."
          % (len(o["items"]), valid, len(o["items"]) - valid, ", ".join(codes), a.seed,
             compared, len(mismatches)))
    for m in mismatches[:20]:
        print("- mismatch: %r" % (m,))
    return not mismatches


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--nasbench-src", required=True, help="checkout of google-research/nasbench")
    p.add_argument("--tfrecord", action="append", default=[], help="file to measure (repeat)")
    p.add_argument("--check", help="tfrecord with true hashes for the side-by-side check")
    p.add_argument("--check-count", type=int, default=300, help="specs taken for the check")
    p.add_argument("--nb101cli", default="target/release/nb1s1", help="our binary")
    p.add_argument("--queries", type=int, default=20000, help="query(spec) samples")
    p.add_argument("--hash-queries", type=int, default=100000,
                   help="get_metrics_from_hash samples; also `bench --samples` (which takes "
                   "min(N, 20000) specs and min(N, 100000) hashes)")
    p.add_argument("--seed", type=int, default=0, help="NASBench(file, seed=S)")
    p.add_argument("--protobuf", choices=["python", "upb"], default="python")
    p.add_argument("--worker", choices=["official", "check"], help=argparse.SUPPRESS)
    p.add_argument("--workdir", help=argparse.SUPPRESS)
    a = p.parse_args()
    a.nasbench_src = os.path.abspath(a.nasbench_src)
    if a.worker:
        a.tfrecord = a.tfrecord[0]
        return (worker_official if a.worker == "official" else worker_check)(a)
    with tempfile.TemporaryDirectory(prefix="nb101-official-") as a.workdir:
        print("SYNTHETIC data unless the files are the official ones. %s, %d CPUs, load %s"
              % (time.strftime("%Y-%m-%d %H:%M %Z"), os.cpu_count(), os.getloadavg()))
        for t in a.tfrecord:
            compare_file(a, t)
        ok = check(a) if a.check else True
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
