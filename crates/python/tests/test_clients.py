"""Call patterns of the real clients of the official API (google-research/nasbench's example,
nasbench-1shot1's wrapper subclass, HPOBench's NB-1Shot1 objective), written against the
fixtures; plus the official error types and messages."""

import pickle
import random

import numpy as np
import pytest

from nasbench import api

H = "ff92c322c5d9d3d587d9c146a63d0807"  # first model of real_30_only108


def stored_spec(expected, h=H):
    m = expected["models"][h]
    return api.ModelSpec(matrix=m["module_adjacency"], ops=m["module_operations"])


def test_same_seed_same_answers(nb, real30, expected, capsys):
    specs = [stored_spec(expected, h) for h in list(expected["models"])[:20]]
    specs = [s for s in specs if nb.is_valid(s) and s.hash_spec(nb.config["available_ops"]) in nb.fixed_statistics]
    assert len(specs) >= 18
    first = [nb.query(s)["validation_accuracy"] for s in specs]
    again = api.NASBench(real30, seed=0, progress=False)
    assert [again.query(s)["validation_accuracy"] for s in specs] == first
    other = api.NASBench(real30, seed=1, progress=False)
    assert [other.query(s)["validation_accuracy"] for s in specs] != first
    capsys.readouterr()


def test_budget_counters(nb, expected):
    spec = stored_spec(expected)
    a = nb.query(spec)
    b = nb.query(spec, stop_halfway=True)
    assert nb.get_budget_counters() == (a["training_time"] + b["training_time"], 108 + 54)
    assert isinstance(nb.total_epochs_spent, int)
    nb.reset_budget_counters()
    assert nb.get_budget_counters() == (0.0, 0)
    nb.get_metrics_from_spec(spec)
    nb.is_valid(spec)
    assert nb.get_budget_counters() == (0.0, 0)
    assert nb.history == {}


def test_statistics_mappings(nb, expected):
    m = expected["models"][H]
    assert nb.computed_statistics[H][108][2]["final_test_accuracy"] == m["computed_stats"]["108"][2]["final_test_accuracy"]
    fixed = nb.fixed_statistics[H]
    assert fixed["module_adjacency"].dtype == np.int8
    assert fixed["module_operations"] == m["module_operations"]
    assert len(nb.fixed_statistics) == len(nb.computed_statistics) == 30
    assert H in nb.fixed_statistics and "0" * 32 not in nb.fixed_statistics
    assert list(nb.fixed_statistics) == expected["files"]["real_30_only108.tfrecord"]["hashes"]
    best = max(nb.hash_iterator(), key=lambda h: np.mean(
        [r["final_validation_accuracy"] for r in nb.computed_statistics[h][108]]))
    assert best in expected["models"]
    with pytest.raises(KeyError):
        nb.fixed_statistics["0" * 32]
    with pytest.raises(TypeError):
        nb.fixed_statistics[H] = {}
    # A client's edit of a returned dict never reaches the data.
    nb.computed_statistics[H][108][0]["final_test_accuracy"] = -1.0
    assert nb.computed_statistics[H][108][0]["final_test_accuracy"] > 0
    assert nb.config["available_ops"] == ["conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3"]
    assert nb.config["module_vertices"] == 7 and nb.config["max_edges"] == 9
    assert nb.config["num_repeats"] == 3


class AllRepeats(api.NASBench):
    """The nasbench-1shot1 pattern: a subclass whose query returns every repeat."""

    def query(self, model_spec, epochs=108, stop_halfway=False):
        if epochs not in self.valid_epochs:
            raise api.OutOfDomainError("bad epochs")
        fixed, computed = self.get_metrics_from_spec(model_spec)
        out = []
        for run in computed[epochs][: self.config["num_repeats"]]:
            self.training_time_spent += run["final_training_time"]
            self.total_epochs_spent += epochs
            out.append(dict(fixed, validation_accuracy=run["final_validation_accuracy"]))
        return out


def test_subclass_all_repeats(real30, expected, capsys):
    nb = AllRepeats(real30, progress=False)
    runs = nb.query(stored_spec(expected))
    want = expected["models"][H]["computed_stats"]["108"]
    assert [r["validation_accuracy"] for r in runs] == [w["final_validation_accuracy"] for w in want]
    assert nb.total_epochs_spent == 3 * 108
    capsys.readouterr()


class CountingChecks(api.NASBench):
    calls = 0

    def _check_spec(self, model_spec):
        CountingChecks.calls += 1
        return super()._check_spec(model_spec)


def test_overridden_hook_is_honoured(real30, expected, capsys):
    """A subclass overriding a hook that query goes through in the official code sees it
    called, and gets the same seeded answer."""
    nb = CountingChecks(real30, progress=False)
    plain = api.NASBench(real30, progress=False)
    assert not CountingChecks._direct_query and api.NASBench._direct_query
    random.seed(5)
    a = plain.query(stored_spec(expected))
    random.seed(5)
    b = nb.query(stored_spec(expected))
    assert CountingChecks.calls >= 1
    assert a["test_accuracy"] == b["test_accuracy"]
    capsys.readouterr()


def test_out_of_domain_messages(nb, expected):
    spec = stored_spec(expected)
    with pytest.raises(api.OutOfDomainError, match=r"invalid number of epochs, must be one of \{108\}"):
        nb.query(spec, epochs=12)
    cases = [
        ([[0, 0, 0], [0, 0, 1], [0, 0, 0]], ["input", "conv3x3-bn-relu", "output"], "invalid spec, provided graph is disconnected."),
        ([[0, 1, 0], [0, 0, 0], [0, 0, 0]], ["input", "conv3x3-bn-relu", "output"], "invalid spec, provided graph is disconnected."),
        ([[0, 1], [0, 0]], ["conv3x3-bn-relu", "output"], "first operation should be 'input'"),
        ([[0, 1], [0, 0]], ["input", "maxpool3x3"], "last operation should be 'output'"),
        ([[0, 1, 0], [0, 0, 1], [0, 0, 0]], ["input", "conv5x5", "output"],
         "unsupported op conv5x5 (available ops = ['conv3x3-bn-relu', 'conv1x1-bn-relu', 'maxpool3x3'])"),
    ]
    full = np.triu(np.ones((7, 7), dtype=int), 1)
    cases.append((full, ["input"] + ["conv3x3-bn-relu"] * 5 + ["output"], "too many edges, got 21 (max edges = 9)"))
    chain = np.eye(8, k=1, dtype=int)
    cases.append((chain, ["input"] + ["conv1x1-bn-relu"] * 6 + ["output"], "too many vertices, got 8 (max vertices = 7)"))
    for matrix, ops, message in cases:
        s = api.ModelSpec(matrix, ops)
        assert not nb.is_valid(s)
        with pytest.raises(api.OutOfDomainError) as e:
            nb.query(s)
        assert str(e.value) == message
    assert nb.get_budget_counters() == (0.0, 0)
    nb.reproduce_vertex_check_crash = True
    with pytest.raises(TypeError):
        nb.query(api.ModelSpec(chain, ["input"] + ["conv1x1-bn-relu"] * 6 + ["output"]))


def test_valid_cell_absent_from_file_is_a_key_error(nb):
    spec = api.ModelSpec([[0, 1, 0], [0, 0, 1], [0, 0, 0]], ["input", "maxpool3x3", "output"])
    assert nb.is_valid(spec)
    state = random.getstate()
    with pytest.raises(KeyError):
        nb.query(spec)
    assert random.getstate() == state  # no repeat drawn, as in the official order


def test_evaluate_is_a_clear_error(nb, expected):
    with pytest.raises(NotImplementedError, match="TensorFlow"):
        nb.evaluate(stored_spec(expected), "/tmp/x")


def test_pickle_by_path(nb, expected):
    nb.query(stored_spec(expected))
    copy = pickle.loads(pickle.dumps(nb))
    assert copy.get_budget_counters() == nb.get_budget_counters()
    assert copy.get_metrics_from_hash(H)[1] == nb.get_metrics_from_hash(H)[1]
    assert len(pickle.dumps(nb)) < 4096


def test_renumbered_and_dangling_cells_hash_alike(nb, expected):
    """The cell renumbered, or with an extra dangling vertex, finds the same model."""
    from nasbench.lib import graph_util

    m = expected["models"][H]
    matrix = np.array(m["module_adjacency"])
    ops = m["module_operations"]
    n = len(ops)
    perm = [0] + list(range(n - 2, 0, -1)) + [n - 1]
    pm, pops = graph_util.permute_graph(matrix, ops, perm)
    if np.all(np.tril(pm) == 0):
        assert nb.query(api.ModelSpec(pm.astype(int), pops))["trainable_parameters"] == m["trainable_parameters"]
    if n < 7:
        big = np.zeros((n + 1, n + 1), dtype=int)
        big[:n - 1, :n - 1] = matrix[:n - 1, :n - 1]
        big[:n - 1, n] = matrix[:n - 1, n - 1]
        big[0, n - 1] = 1  # vertex n-1 is dangling: fed by the input, feeding nothing
        spec = api.ModelSpec(big, ops[:-1] + ["conv3x3-bn-relu", "output"])
        assert spec.matrix.tolist() == matrix.tolist()
        assert nb.get_metrics_from_spec(spec)[0]["trainable_parameters"] == m["trainable_parameters"]
