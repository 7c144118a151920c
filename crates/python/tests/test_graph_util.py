"""``nasbench.lib.graph_util`` and ``ModelSpec`` against the official behaviour."""

import numpy as np
import pytest

from nasbench import api
from nasbench.lib import graph_util, model_spec


def test_hash_module_matches_the_data_set_keys(expected):
    for h, m in expected["models"].items():
        spec = api.ModelSpec(m["module_adjacency"], m["module_operations"])
        assert spec.hash_spec(["conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3"]) == h
        labels = [-1] + [["conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3"].index(o)
                         for o in m["module_operations"][1:-1]] + [-2]
        assert graph_util.hash_module(np.array(m["module_adjacency"]), labels) == h


def test_hash_depends_on_canonical_op_order(expected):
    m = next(iter(expected["models"].values()))
    spec = api.ModelSpec(m["module_adjacency"], m["module_operations"])
    ops = ["conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3"]
    if len(set(m["module_operations"][1:-1])) > 1:
        assert spec.hash_spec(ops[::-1]) != spec.hash_spec(ops)
    with pytest.raises(ValueError):
        spec.hash_spec(["conv3x3-bn-relu"])  # an op missing from canonical_ops


def test_model_spec_construction_and_pruning():
    with pytest.raises(ValueError, match="matrix must be square"):
        api.ModelSpec([[0, 1, 0], [0, 0, 1]], ["input", "conv3x3-bn-relu", "output"])
    with pytest.raises(ValueError, match="length of ops must match matrix dimensions"):
        api.ModelSpec([[0, 1], [0, 0]], ["input", "conv3x3-bn-relu", "output"])
    with pytest.raises(ValueError, match="matrix must be upper triangular"):
        api.ModelSpec([[0, 1], [1, 0]], ["input", "output"])
    # Vertex 2 is fed by the input but feeds nothing: pruned away.
    matrix = [[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0], [0, 0, 0, 0]]
    ops = ["input", "conv3x3-bn-relu", "maxpool3x3", "output"]
    spec = api.ModelSpec(matrix, ops, data_format="channels_first")
    assert spec.valid_spec and spec.data_format == "channels_first"
    assert spec.original_matrix.tolist() == matrix and spec.original_ops == ops
    assert spec.matrix.tolist() == [[0, 1, 0], [0, 0, 1], [0, 0, 0]]
    assert spec.ops == ["input", "conv3x3-bn-relu", "output"]
    assert spec.original_ops is not ops
    bad = api.ModelSpec([[0, 0], [0, 0]], ["input", "output"])
    assert not bad.valid_spec and bad.matrix is None and bad.ops is None
    assert model_spec.is_upper_triangular(np.array([[0, 1], [0, 0]]))


def test_graph_helpers():
    # Bit x + y(y-1)/2 is edge (x, y): 0b101 sets (0, 1) and (1, 2).
    is_edge = graph_util.gen_is_edge_fn(0b101)
    m = np.fromfunction(is_edge, (3, 3), dtype=np.int8)
    assert m.astype(int).tolist() == [[0, 1, 0], [0, 0, 1], [0, 0, 0]]
    assert graph_util.num_edges(np.array([[0, 1, 1], [0, 0, 1], [0, 0, 0]])) == 3
    assert graph_util.is_full_dag(np.array([[0, 1, 0], [0, 0, 1], [0, 0, 0]]))
    assert not graph_util.is_full_dag(np.array([[0, 1, 1], [0, 0, 0], [0, 0, 0]]))
    g = np.array([[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]])
    labels = [-1, 0, 1, -2]
    pm, pl = graph_util.permute_graph(g, labels, [0, 2, 1, 3])
    assert pl == [-1, 1, 0, -2] and pm.dtype == bool
    assert graph_util.is_isomorphic((g, labels), (pm.astype(int), pl))
    assert not graph_util.is_isomorphic((g, labels), (g, [-1, 1, 1, -2]))
    assert graph_util.hash_module(pm.astype(int), pl) == graph_util.hash_module(g, labels)


def test_hash_follows_edits_of_the_spec(expected):
    """hash_spec answers from its cache only while matrix and ops are unchanged."""
    ops = ["conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3"]
    spec = api.ModelSpec([[0, 1, 1], [0, 0, 1], [0, 0, 0]], ["input", "conv3x3-bn-relu", "output"])
    first = spec.hash_spec(ops)
    assert spec.hash_spec(ops) == first
    spec.ops[1] = "maxpool3x3"
    second = spec.hash_spec(ops)
    assert second != first
    spec.matrix[0, 2] = 0
    assert spec.hash_spec(ops) not in (first, second)
    assert spec.hash_spec(ops[::-1]) != spec.hash_spec(ops)
