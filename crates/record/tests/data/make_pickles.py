"""Writes the test pickles of crates/record (run once with numpy; the outputs are committed).

Weights in the original's layout (a list of float32 arrays, as `pickle.dump` of
`[t.detach().cpu().numpy() for t in model.arch_parameters()]`), with the values in
weights.json, and pickles the restricted unpickler must refuse.
"""
import json
import os
import pickle

import numpy as np

EDGE_NODES = {1: [3, 4], 2: [2, 3, 4], 3: [2, 3, 4, 5]}
BLOCKS = {1: 4, 2: 4, 3: 5}


def weights(space, seed):
    rng = np.random.default_rng(seed)
    n = BLOCKS[space]
    arrays = [rng.normal(size=(n, 3)).astype(np.float32),
              rng.normal(size=(1, n + 1)).astype(np.float32)]
    arrays += [rng.normal(size=(1, k)).astype(np.float32) for k in EDGE_NODES[space]]
    return arrays


def main():
    values = {}
    for space in (1, 2, 3):
        w = weights(space, space)
        values[f"space{space}"] = [a.tolist() for a in w]
        for proto in (3, 4, 5):
            with open(f"space{space}_p{proto}.obj", "wb") as f:
                pickle.dump(w, f, protocol=proto)
    # numpy 1.x names its module numpy.core (protocol 3 spells globals as text lines).
    old = pickle.dumps(weights(3, 3), protocol=3).replace(b"numpy._core.", b"numpy.core.")
    open("space3_numpy1.obj", "wb").write(old)
    # A float64 array and a Fortran-ordered one.
    f64 = [a.astype(np.float64) for a in weights(3, 3)]
    f64[0] = np.asfortranarray(f64[0])
    open("space3_f64_fortran.obj", "wb").write(pickle.dumps(f64, protocol=2 + 1))
    bad = weights(3, 3)
    bad[2][0, 1] = np.nan
    open("space3_nan.obj", "wb").write(pickle.dumps(bad, protocol=4))
    short = weights(3, 3)[:-1]
    open("space3_missing_array.obj", "wb").write(pickle.dumps(short, protocol=4))
    json.dump(values, open("weights.json", "w"))

    evil = {
        "os_system": (os.system, ("echo pwned > /tmp/nb1s1-pwned",)),
        "eval": (eval, ("__import__('os').system('echo pwned')",)),
    }

    class Evil:
        def __init__(self, f, a):
            self.f, self.a = f, a

        def __reduce__(self):
            return self.f, self.a

    for name, (f, a) in evil.items():
        open(f"evil_{name}.obj", "wb").write(pickle.dumps([Evil(f, a)], protocol=4))
    # Containers other than lists, and arrays that are not float.
    open("evil_dict.obj", "wb").write(pickle.dumps([{"a": 1}], protocol=4))
    open("int_array.obj", "wb").write(pickle.dumps([np.arange(3)], protocol=4))
    open("object_array.obj", "wb").write(
        pickle.dumps([np.array([1, "x"], dtype=object)], protocol=4))
    good = pickle.dumps(weights(3, 3), protocol=4)
    open("truncated.obj", "wb").write(good[: len(good) // 2])


if __name__ == "__main__":
    main()
