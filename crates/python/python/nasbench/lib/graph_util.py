"""Graph helpers of ``nasbench.lib.graph_util``; ``hash_module`` runs in the Rust engine and
gives the official MD5 fingerprint bit for bit."""

import itertools

import numpy as np

from nb1s1 import _native


def gen_is_edge_fn(bits):
    """A vectorized ``is_edge(x, y)`` reading edge ``x -> y`` from bit ``x + y*(y-1)/2`` of
    ``bits`` (column-major over the strict upper triangle, so it fits any matrix size)."""

    def is_edge(x, y):
        if x >= y:
            return 0
        return (bits >> (x + (y * (y - 1) // 2))) % 2 == 1

    return np.vectorize(is_edge)


def is_full_dag(matrix):
    """True when no vertex dangles: every row but the last has an out-edge and every column
    but the first an in-edge."""
    matrix = np.asarray(matrix)
    no_out = np.all(matrix[:-1, :] == 0, axis=1)
    no_in = np.all(matrix[:, 1:] == 0, axis=0)
    return not (np.any(no_out) or np.any(no_in))


def num_edges(matrix):
    """Number of edges (the sum of the adjacency matrix)."""
    return np.sum(matrix)


def hash_module(matrix, labeling):
    """The isomorphism-invariant MD5 hash of an upper-triangular 0/1 matrix and its integer
    vertex labels (-1 input, -2 output, the op's index in ``available_ops`` otherwise)."""
    matrix = np.asarray(matrix)
    if not isinstance(labeling, list):
        labeling = list(labeling)
    shape = matrix.shape
    if len(shape) != 2 or shape[0] != shape[1] or shape[0] != len(labeling):
        raise AssertionError("matrix must be square with one label per vertex")
    # One numpy operation: bool bytes are 0/1, so any non-zero entry is an edge.
    flat = matrix.astype(np.bool_).tobytes()
    return _native.hash_module(flat, labeling)


def permute_graph(graph, label, permutation):
    """Relabels the graph so that vertex ``permutation[v]`` is vertex ``v`` of the input;
    returns (boolean matrix, labels)."""
    graph = np.asarray(graph)
    inverse = [v for _, v in sorted(zip(permutation, range(len(permutation))))]
    new_matrix = graph[np.ix_(inverse, inverse)] == 1
    new_label = [label[inverse[i]] for i in range(len(label))]
    return new_matrix, new_label


def is_isomorphic(graph1, graph2):
    """Exhaustive isomorphism test of two (matrix, labels) pairs of the same size."""
    matrix1, label1 = np.array(graph1[0]), graph1[1]
    matrix2, label2 = np.array(graph2[0]), graph2[1]
    assert np.shape(matrix1) == np.shape(matrix2)
    assert len(label1) == len(label2)
    for perm in itertools.permutations(range(np.shape(matrix1)[0])):
        pmatrix, plabel = permute_graph(matrix1, label1, perm)
        if np.array_equal(pmatrix, matrix2) and plabel == label2:
            return True
    return False
