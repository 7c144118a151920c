"""The native NAS-Bench-101 API: many specs or hashes at once, answered as numpy arrays by the
engine with the GIL released."""

import os

import numpy as np

from nb1s1 import _native
from nb1s1._open import open_store

#: The last axis of every value array: halfway then final (training time, train, validation
#: and test accuracy), the official per-run keys in order.
KEYS = (
    "halfway_training_time",
    "halfway_train_accuracy",
    "halfway_validation_accuracy",
    "halfway_test_accuracy",
    "final_training_time",
    "final_train_accuracy",
    "final_validation_accuracy",
    "final_test_accuracy",
)

_OP_LABEL = {name: i for i, name in enumerate(_native.AVAILABLE_OPS)}


class SpecBatchError(ValueError):
    """A spec of a batch that cannot be hashed; ``index`` and ``code`` name it."""

    def __init__(self, index, code):
        super().__init__("spec %d: %s" % (index, code))
        self.index = index
        self.code = code


class NB101(object):
    """An opened NAS-Bench-101 file (a store, or a tfrecord converted once into one).

    Pickles by path, so it can be handed to worker processes.
    """

    def __init__(self, path, *, cache_dir=None, progress=True):
        self._store = open_store(path, cache_dir=cache_dir, progress=progress)

    def __reduce__(self):
        return (_reopen, (os.fspath(self._store.path),))

    def __len__(self):
        return len(self._store)

    def __repr__(self):
        return "NB101(%r, models=%d, epochs=%s)" % (os.fspath(self.path), len(self), self.epochs)

    @property
    def path(self):
        """The store file."""
        return self._store.path

    @property
    def epochs(self):
        """The epoch budgets present, ascending."""
        return list(self._store.epochs)

    @property
    def synthetic(self):
        """True for a synthetic table, never the official data."""
        return self._store.synthetic

    def hashes(self):
        """Every hash in file order, as a list of 32-character strings."""
        return list(self._store.hashes())

    def index(self, hashes):
        """Positions (int64, -1 where absent) of an iterable of hex hashes."""
        raw = self._store.lookup([str(h) for h in hashes])
        return np.frombuffer(raw, dtype="<i8").copy()

    def spec_hashes(self, matrices, ops):
        """``nb1s1.spec_hashes`` (the data file plays no part)."""
        return spec_hashes(matrices, ops)

    def _hash_batch(self, matrices, ops):
        return _hash_batch(matrices, ops)

    def values(self, indices, epochs=108, repeats=3):
        """Every repeat's values at ``epochs`` for model positions ``indices``: float64 array
        (n, repeats, 8) over ``KEYS``, NaN for -1 or a missing repeat."""
        idx = np.ascontiguousarray(indices, dtype="<i8")
        raw = self._store.gather(idx.tobytes(), int(epochs), int(repeats))
        return np.frombuffer(raw, dtype="<f8").reshape(len(idx), repeats, len(KEYS))

    def query_hashes(self, hashes, epochs=108, repeats=3):
        """``values`` for hex hashes (NaN rows for hashes not in the file)."""
        return self.values(self.index(hashes), epochs, repeats)

    def query_specs(self, matrices, ops, epochs=108, repeats=3, strict=False):
        """``values`` for many cells given as in ``spec_hashes``; invalid cells (or cells not
        in the file) give NaN rows, or raise ``SpecBatchError`` with ``strict``."""
        raw, status, n = self._hash_batch(matrices, ops)
        if strict and status.any():
            i = int(np.flatnonzero(status)[0])
            raise SpecBatchError(i, _native.SPEC_ERROR_CODES[status[i] - 1])
        idx = np.frombuffer(self._store.lookup_raw(raw), dtype="<i8").copy()
        idx[status != 0] = -1
        return self.values(idx, epochs, repeats)

    def dataframe(self, epochs=108):
        """Every (model, repeat) at ``epochs`` as a pandas DataFrame: ``hash``, ``repeat`` and
        the ``KEYS`` columns (needs pandas)."""
        import pandas as pd

        hashes = self.hashes()
        vals = self.values(np.arange(len(hashes)), epochs)
        n, r, _ = vals.shape
        frame = pd.DataFrame(vals.reshape(n * r, len(KEYS)), columns=list(KEYS))
        frame.insert(0, "repeat", np.tile(np.arange(r), n))
        frame.insert(0, "hash", np.repeat(np.array(hashes, dtype=object), r))
        return frame.dropna(subset=[KEYS[-1]]).reset_index(drop=True)


def spec_hashes(matrices, ops):
    """Hashes many cells at once: ``matrices`` (n, V, V) 0/1, ``ops`` (n, V) op names or
    labels (0 conv3x3, 1 conv1x1, 2 maxpool; the first and last column are input and output
    whatever they hold). Returns (hex hashes as an object array, None for invalid cells; the
    engine's error codes, '' for valid cells)."""
    raw, status, _ = _hash_batch(matrices, ops)
    codes = _native.SPEC_ERROR_CODES
    hexes = np.array(
        [None if s else raw[16 * i : 16 * i + 16].hex() for i, s in enumerate(status)],
        dtype=object,
    )
    return hexes, np.array(["" if s == 0 else codes[s - 1] for s in status], dtype=object)


def _hash_batch(matrices, ops):
    m = np.ascontiguousarray(matrices, dtype=np.uint8)
    if m.ndim != 3 or m.shape[1] != m.shape[2]:
        raise ValueError("matrices must have shape (n, V, V), got %s" % (m.shape,))
    n, v = m.shape[0], m.shape[1]
    labels = _op_labels(ops, n, v)
    raw, status = _native.spec_hashes(m.tobytes(), labels.tobytes(), n, v)
    return raw, np.frombuffer(status, dtype=np.uint8), n


def generate_from_specs(path, matrices, ops, budgets=(108,), repeats=3):
    """Writes a SYNTHETIC tfrecord holding one model per cell (made-up metrics, true hashes),
    for tests and benchmarks without the official file; cells as in ``NB101.spec_hashes``.
    Returns the number of distinct models written."""
    m = np.ascontiguousarray(matrices, dtype=np.uint8)
    if m.ndim != 3 or m.shape[1] != m.shape[2]:
        raise ValueError("matrices must have shape (n, V, V), got %s" % (m.shape,))
    n, v = m.shape[0], m.shape[1]
    labels = _op_labels(ops, n, v)
    return _native.generate_from_specs(
        os.fspath(path), m.tobytes(), labels.tobytes(), n, v, list(budgets), int(repeats)
    )


def _reopen(path):
    return NB101(path)


def _op_labels(ops, n, v):
    arr = np.asarray(ops, dtype=object) if not isinstance(ops, np.ndarray) else ops
    if arr.shape != (n, v):
        raise ValueError("ops must have shape (%d, %d), got %s" % (n, v, arr.shape))
    if arr.dtype.kind in "iu":
        return np.ascontiguousarray(arr, dtype=np.uint8)
    out = np.zeros((n, v), dtype=np.uint8)
    for i in range(n):
        for j in range(1, v - 1):
            label = _OP_LABEL.get(arr[i, j])
            out[i, j] = 255 if label is None else label
    return out
