"""The native query path (``_native.FastQuery``) against the official call sequence that a
subclass overriding a hook gets: the same answers, repeat draws, counters and errors, and a
fresh hash whenever the spec is edited; plus the native pruning of ``ModelSpec``."""

import random

import numpy as np
import pytest

from nasbench import api


class OfficialPath(api.NASBench):
    """Overrides a hook, so ``query`` takes the official sequence (no fast path)."""

    def _hash_spec(self, model_spec):
        return super()._hash_spec(model_spec)


def answer(d):
    return (d["module_adjacency"].tolist(), d["module_adjacency"].dtype, d["module_operations"],
            d["trainable_parameters"], d["training_time"], d["train_accuracy"],
            d["validation_accuracy"], d["test_accuracy"])


def cells(expected, dtype):
    for h, m in expected["models"].items():
        yield h, api.ModelSpec(np.array(m["module_adjacency"], dtype=dtype), list(m["module_operations"]))


@pytest.mark.parametrize("dtype", [np.int64, np.int8, np.bool_, np.int32])
def test_fast_path_equals_the_official_sequence(real30, expected, dtype, capsys):
    fast = api.NASBench(real30, progress=False)
    slow = OfficialPath(real30, progress=False)
    assert fast._direct_query and not slow._direct_query
    specs = [s for h, s in cells(expected, dtype) if h in fast.fixed_statistics]
    assert len(specs) >= 20
    for nb in (fast, slow):
        random.seed(11)
        nb.answers = [answer(nb.query(s, stop_halfway=i % 3 == 0)) for i, s in enumerate(specs * 2)]
        nb.state = random.getstate()
    assert fast.answers == slow.answers
    assert fast.state == slow.state
    assert fast.get_budget_counters() == slow.get_budget_counters()
    assert fast.answers[0][1] == np.int8
    capsys.readouterr()


def test_fast_path_follows_edits_and_declines_the_unusual(nb, expected):
    hashes = [h for h in expected["files"]["real_30_only108.tfrecord"]["hashes"] if h in expected["models"]]
    m = expected["models"][hashes[0]]
    spec = api.ModelSpec(m["module_adjacency"], list(m["module_operations"]))
    assert nb.query(spec)["module_operations"] == m["module_operations"]
    # An edited op list is hashed afresh (here: a cell the file lacks).
    interior = [i for i, o in enumerate(spec.ops[1:-1], 1)]
    spec.ops[interior[0]] = "maxpool3x3" if spec.ops[interior[0]] != "maxpool3x3" else "conv1x1-bn-relu"
    h = spec.hash_spec(nb.config["available_ops"])
    done = 2
    if h in nb.fixed_statistics:
        done += 1
        assert nb.query(spec)["module_operations"] == nb.fixed_statistics[h]["module_operations"]
    else:
        state = random.getstate()
        with pytest.raises(KeyError):
            nb.query(spec)
        assert random.getstate() == state
    # Not a cell the fast path takes: the official path answers with the official errors.
    spec = api.ModelSpec(m["module_adjacency"], list(m["module_operations"]))
    spec.ops[-1] = "conv3x3-bn-relu"
    with pytest.raises(api.OutOfDomainError, match="last operation should be 'output'"):
        nb.query(spec)
    spec = api.ModelSpec(m["module_adjacency"], list(m["module_operations"]))
    spec.matrix = spec.matrix.astype(float)
    assert nb.query(spec)["trainable_parameters"] == m["trainable_parameters"]
    nb.config = dict(nb.config, max_edges=1)
    with pytest.raises(api.OutOfDomainError, match="too many edges"):
        nb.query(api.ModelSpec(m["module_adjacency"], list(m["module_operations"])))
    assert nb.get_budget_counters()[1] == done * 108


def test_native_prune_matches_the_official_rules():
    ops = ["input", "conv3x3-bn-relu", "maxpool3x3", "conv1x1-bn-relu", "output"]
    # Vertex 2 is fed by nothing; vertex 3 feeds nothing: both pruned.
    m = [[0, 1, 0, 1, 0], [0, 0, 1, 0, 1], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0]]
    m[2][4] = 1
    m[1][2] = 0
    spec = api.ModelSpec(m, ops)
    assert spec.matrix.tolist() == [[0, 1, 0], [0, 0, 1], [0, 0, 0]]
    assert spec.ops == ["input", "conv3x3-bn-relu", "output"]
    assert spec.original_ops == ops and spec.original_ops is not ops
    for bad in (np.tril(np.ones((3, 3), dtype=int)), [[0, 1, 0], [0, 0, 1], [0.5, 0, 0]]):
        with pytest.raises(ValueError, match="upper triangular"):
            api.ModelSpec(bad, ops[:3])
    weighted = api.ModelSpec([[0, 2, 0], [0, 0, 3], [0, 0, 0]], ops[:2] + ["output"])
    assert weighted.valid_spec and weighted.matrix.tolist() == [[0, 2, 0], [0, 0, 3], [0, 0, 0]]
    cut = api.ModelSpec([[0, 1, 0], [0, 0, 0], [0, 0, 0]], ops[:2] + ["output"])
    assert not cut.valid_spec and cut.matrix is None and cut.ops is None
    nested = api.ModelSpec([[0, 1], [0, 0]], [["input"], "output"])
    assert nested.original_ops == [["input"], "output"]
    assert nested.original_ops[0] is not nested.ops[0]  # deep-copied, as the official class


def test_patched_randint_is_called(nb, expected, monkeypatch):
    """The draw replays the stock ``random.randint`` natively; a patched one is called."""
    h = expected["files"]["real_30_only108.tfrecord"]["hashes"][0]
    m = expected["models"][h]
    spec = api.ModelSpec(m["module_adjacency"], list(m["module_operations"]))
    calls = []
    monkeypatch.setattr(random, "randint", lambda a, b: calls.append((a, b)) or b)
    got = nb.query(spec)["test_accuracy"]
    assert calls == [(0, 2)]
    assert got == m["computed_stats"]["108"][2]["final_test_accuracy"]
