"""``ModelSpec``: a cell as an adjacency matrix plus op labels, pruned as the official class
prunes it (vertices not on an input-to-output path are removed)."""

import copy

import numpy as np

from nasbench.lib import graph_util
from nb1s1 import _native


class ModelSpec(object):
    """Model specification given adjacency matrix and labeling.

    ``matrix``/``ops`` are the pruned cell (``None`` with ``valid_spec`` False when the input
    does not reach the output); ``original_matrix``/``original_ops`` are copies of the input.
    """

    def __init__(self, matrix, ops, data_format="channels_last"):
        if not isinstance(matrix, np.ndarray):
            matrix = np.array(matrix)
        shape = np.shape(matrix)
        if len(shape) != 2 or shape[0] != shape[1]:
            raise ValueError("matrix must be square")
        if shape[0] != len(ops):
            raise ValueError("length of ops must match matrix dimensions")
        # Numeric matrices are checked and pruned natively in one call (the official
        # truthiness of each entry is its bool cast); anything else takes the numpy path.
        keep = None
        if matrix.dtype.kind in "biuf":
            keep = _native.prune(matrix.astype(np.bool_).tobytes(), shape[0])
            if keep is None:
                raise ValueError("matrix must be upper triangular")
        elif not is_upper_triangular(matrix):
            raise ValueError("matrix must be upper triangular")

        self.original_matrix = matrix.copy()
        self.original_ops = _copy_ops(ops)
        self.matrix = matrix.copy()
        self.ops = _copy_ops(ops)
        self.valid_spec = True
        self._prune(keep)
        self.data_format = data_format

    def _prune(self, keep=None):
        """Keeps the vertices reachable from the input and reaching the output; with fewer
        than two left (no input-to-output path) the spec is invalid. ``keep`` is the kept
        vertices when already known."""
        m = self.original_matrix
        n = np.shape(m)[0]
        if keep is None:
            forward = _reachable(lambda v: (w for w in range(v + 1, n) if m[v, w]), 0)
            backward = _reachable(lambda v: (w for w in range(v) if m[w, v]), n - 1)
            keep = sorted(forward & backward)
        if len(keep) < 2:
            self.matrix = None
            self.ops = None
            self.valid_spec = False
            return
        if len(keep) < n:
            self.matrix = self.matrix[np.ix_(keep, keep)]
            self.ops = [self.ops[v] for v in keep]

    def hash_spec(self, canonical_ops):
        """The isomorphism-invariant hash of the pruned cell; ``canonical_ops`` gives each op
        its label (``config['available_ops']``)."""
        # Cached against the cell's current contents, so a spec queried again skips the hash
        # while an edited matrix or op list is hashed afresh.
        m = self.matrix
        key = (m.shape, m.dtype.str, m.tobytes(), tuple(self.ops), tuple(canonical_ops)) \
            if isinstance(m, np.ndarray) else None
        cached = getattr(self, "_hash_cache", None)
        if key is not None and cached is not None and cached[0] == key:
            return cached[1]
        labeling = [-1] + [canonical_ops.index(op) for op in self.ops[1:-1]] + [-2]
        fingerprint = graph_util.hash_module(m, labeling)
        self._hash_cache = (key, fingerprint)
        return fingerprint

    def visualize(self):
        """A graphviz ``Digraph`` of the pruned cell (needs the ``graphviz`` package)."""
        import graphviz  # optional, as in the official package

        n = np.shape(self.matrix)[0]
        g = graphviz.Digraph()
        for v in range(n):
            g.node(str(v), "input" if v == 0 else "output" if v == n - 1 else self.ops[v])
        for src in range(n - 1):
            for dst in range(src + 1, n):
                if self.matrix[src, dst]:
                    g.edge(str(src), str(dst))
        return g

    def __repr__(self):
        return "ModelSpec(matrix=%r, ops=%r)" % (
            None if self.matrix is None else self.matrix.tolist(),
            self.ops,
        )


def _copy_ops(ops):
    """``copy.deepcopy(ops)``; a list of strings (the usual case) is copied directly, as
    strings are immutable."""
    if type(ops) is list and all(type(o) is str for o in ops):
        return list(ops)
    return copy.deepcopy(ops)


def _reachable(neighbours, start):
    seen = {start}
    frontier = [start]
    while frontier:
        for w in neighbours(frontier.pop()):
            if w not in seen:
                seen.add(w)
                frontier.append(w)
    return seen


def is_upper_triangular(matrix):
    """True if matrix is 0 on the diagonal and below."""
    return not np.any(np.tril(np.asarray(matrix)) != 0)
