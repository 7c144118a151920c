#!/usr/bin/env python3
"""Interleaved timing of `nb1s1 nb101 convert` against `cat`, for comparing binaries or
settings on a noisy machine: every round reads the file with `cat` once, then runs each
command once, so a busy spell of the host hits all of them alike.

    benches/nb101_convert/ab.py FILE ROUNDS CMD [CMD ...]

Each CMD is a binary that takes `nb101 convert IN OUT`, optionally with environment
settings before it, e.g. `RAYON_NUM_THREADS=1=target/release/nb1s1` (NAME=VALUE=binary).
Prints the minimum, first quartile and median wall time of each, and median / median of cat.
"""
import os
import statistics
import subprocess
import sys
import tempfile
import time


def timed(argv, env=None):
    t = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=env)
    return time.perf_counter() - t


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    path, rounds, cmds = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    parsed = []
    for c in cmds:
        *settings, binary = c.split("=")
        if len(settings) % 2:
            sys.exit(f"{c}: expected NAME=VALUE=...=binary")
        env = dict(os.environ, **dict(zip(settings[::2], settings[1::2])))
        parsed.append((c, binary, env))
    out = os.path.join(tempfile.mkdtemp(), "ab.nb101")
    cat, times = [], {c: [] for c, _, _ in parsed}
    for _ in range(rounds):
        cat.append(timed(["cat", path]))
        for c, binary, env in parsed:
            # A new file each time, as `nb1s1 nb101 bench` does: replacing the last store
            # would add the freeing of its blocks to the convert.
            if os.path.exists(out):
                os.remove(out)
            times[c].append(timed([binary, "nb101", "convert", path, out], env))
    mc = statistics.median(cat)
    print(f"cat: min {min(cat):.3f} s, median {mc:.3f} s")
    for c, _, _ in parsed:
        t = sorted(times[c])
        med = statistics.median(t)
        print(f"{c}: min {t[0]:.3f} s, q1 {t[len(t) // 4]:.3f} s, median {med:.3f} s, "
              f"median / cat {med / mc:.2f}x")


if __name__ == "__main__":
    main()
