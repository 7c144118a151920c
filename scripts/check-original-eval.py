"""Runs the original NAS-Bench-1Shot1 evaluation script
(nasbench_analysis/eval_darts_one_shot_model_in_nasbench.py, from a checkout of
automl/nasbench-1shot1 that you provide; it is not shipped here) on generated architecture
weights of all three spaces against nb1s1's `nasbench` drop-in, and compares its test and
validation errors with what `nb1s1.Recorder` records for the same weights.

    python scripts/check-original-eval.py ORIGINAL_CHECKOUT NB101_FILE_OF_SPACE_S... [--epochs N]

Shims, so the script runs without TensorFlow, CUDA or an old numpy: `np.int` (gone since numpy
1.24) is `int`; `torch.Tensor` / `F.softmax` are numpy float32 arrays and a float32 softmax
(torch is only used there); `optimizers.darts.genotypes.PRIMITIVES` and
`nasbench_analysis.utils.natural_keys` are the original's values. The NB-101 files must hold
every cell of their space (`nb1s1 space enumerate --unique --json | nb1s1 nb101 generate
--specs -`, or the official file). Prints one line per space and exits non-zero on a mismatch.
"""

import importlib.util
import json
import os
import pickle
import re
import sys
import tempfile
import types

import numpy as np

import nb1s1
import nasbench_analysis.utils as nb_utils

EDGE_NODES = {1: [3, 4], 2: [2, 3, 4], 3: [2, 3, 4, 5]}
BLOCKS = {1: 4, 2: 4, 3: 5}


def install_shims():
    np.int = int  # removed in numpy 1.24; the script's astype(np.int)

    class T:
        def __init__(self, a):
            self.a = np.asarray(a, dtype=np.float32)
            self.data = self

        def cpu(self):
            return self

        def numpy(self):
            return self.a

    def softmax(t, axis=-1):
        a = t.a - t.a.max(axis=axis, keepdims=True)
        e = np.exp(a)
        return T(e / e.sum(axis=axis, keepdims=True))

    torch = types.ModuleType("torch")
    torch.Tensor = T
    nn = types.ModuleType("torch.nn")
    functional = types.ModuleType("torch.nn.functional")
    functional.softmax = softmax
    torch.nn, nn.functional = nn, functional
    sys.modules.update({"torch": torch, "torch.nn": nn, "torch.nn.functional": functional})
    genotypes = types.ModuleType("optimizers.darts.genotypes")
    genotypes.PRIMITIVES = ["maxpool3x3", "conv3x3-bn-relu", "conv1x1-bn-relu"]
    for name in ("optimizers", "optimizers.darts"):
        sys.modules[name] = types.ModuleType(name)
    sys.modules["optimizers.darts.genotypes"] = genotypes
    nb_utils.natural_keys = lambda text: [int(c) if c.isdigit() else c
                                          for c in re.split(r"(\d+)", text)]


def load_script(checkout):
    path = os.path.join(checkout, "nasbench_analysis", "eval_darts_one_shot_model_in_nasbench.py")
    spec = importlib.util.spec_from_file_location("original_eval", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def weights(space, rng):
    n = BLOCKS[space]
    out = [rng.normal(size=(n, 3)), rng.normal(size=(1, n + 1))]
    return [a.astype(np.float32) for a in out + [rng.normal(size=(1, k)) for k in EDGE_NODES[space]]]


def main(argv):
    epochs = 20
    if "--epochs" in argv:
        i = argv.index("--epochs")
        epochs = int(argv[i + 1])
        del argv[i:i + 2]
    checkout, tables = argv[0], argv[1:]
    install_shims()
    script = load_script(checkout)
    bad = 0
    for space, table in zip((1, 2, 3), tables):
        nasbench = nb_utils.NasbenchWrapper(table, progress=False)
        rng = np.random.default_rng(100 + space)
        equal = 0
        with tempfile.TemporaryDirectory() as tmp:
            rec = nb1s1.Recorder(space, table, os.path.join(tmp, "run"), "check", seed=0)
            for e in range(epochs):
                w = weights(space, rng)
                path = os.path.join(tmp, "one_shot_architecture_%d.obj" % e)
                with open(path, "wb") as f:
                    pickle.dump(w, f)
                try:
                    test, valid, _, _ = script.eval_one_shot_model(
                        {"search_space": str(space)}, path, nasbench)
                except Exception:  # the official API refuses a cell without a path to output
                    test, valid = [], []
                r = rec.record(e, w)
                if r["test_errors"] == test and r["valid_errors"] == valid:
                    equal += 1
                else:
                    print("space %d epoch %d: nb1s1 %s / %s, original %s / %s" % (
                        space, e, r["test_errors"], r["valid_errors"], test, valid))
            rec.close()
        print("space %d: %d of %d epochs equal (test and validation errors of every repeat)"
              % (space, equal, epochs))
        bad += epochs - equal
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
