"""The official ``nasbench.api`` (google-research/nasbench) on the nb1s1 engine.

``NASBench(dataset_file, seed=None)`` opens the official tfrecord (converted once into a compact
store, then memory-mapped) or a store. Queries draw the repeat with Python's global ``random``
exactly as the official code does, so seeded scripts get the same numbers; the statistics are
read-only mappings over the store, so nothing is loaded up front.
"""

import os
import random
import sys
import time
from collections.abc import Mapping

import numpy as np

from nasbench.lib import config  # noqa: F401 (the official module exposes it as api.config)
from nasbench.lib import config as _config
from nasbench.lib import model_spec as _model_spec
from nb1s1 import _native
from nb1s1._open import open_store

ModelSpec = _model_spec.ModelSpec

_RUN_KEYS = (
    "halfway_training_time",
    "halfway_train_accuracy",
    "halfway_validation_accuracy",
    "halfway_test_accuracy",
    "final_training_time",
    "final_train_accuracy",
    "final_validation_accuracy",
    "final_test_accuracy",
)


class OutOfDomainError(Exception):
    """Indicates that the requested graph is outside of the search domain."""


class _StoreMapping(Mapping):
    """A read-only ``{hash: value}`` view of a store; values are built on access."""

    __slots__ = ("_store",)

    def __init__(self, store):
        self._store = store

    def _index(self, module_hash):
        i = self._store.index(module_hash) if isinstance(module_hash, str) else None
        if i is None:
            raise KeyError(module_hash)
        return i

    def __contains__(self, module_hash):
        return isinstance(module_hash, str) and self._store.index(module_hash) is not None

    def __iter__(self):
        return self._store.hashes()

    def __len__(self):
        return len(self._store)

    def __repr__(self):
        return "<%s of %d models in %s>" % (type(self).__name__, len(self), self._store.path)


class FixedStatistics(_StoreMapping):
    """``fixed_statistics[hash]``: ``module_adjacency`` (int8 array), ``module_operations``,
    ``trainable_parameters``, as stored (a fresh dict each access)."""

    __slots__ = ()

    def __getitem__(self, module_hash):
        return _fixed_dict(self._store, self._index(module_hash))


class ComputedStatistics(_StoreMapping):
    """``computed_statistics[hash][epochs][repeat][key]`` (a fresh structure each access)."""

    __slots__ = ()

    def __getitem__(self, module_hash):
        return self._store.computed(self._index(module_hash))


def _fixed_dict(store, i):
    flat, n, ops, params = store.fixed(i)
    return {
        # A bytearray copy makes the array writable, as the official dict's array is.
        "module_adjacency": np.frombuffer(bytearray(flat), dtype=np.int8).reshape(n, n),
        "module_operations": ops,
        "trainable_parameters": params,
    }


# The methods `query` goes through in the official code; a subclass that overrides one of
# them gets the official call sequence instead of the direct store path.
_QUERY_HOOKS = ("get_metrics_from_spec", "get_metrics_from_hash", "_check_spec", "_hash_spec")


class NASBench(object):
    """User-facing API for accessing the NASBench dataset.

    ``dataset_file`` is an official tfrecord (``nasbench_only108.tfrecord``,
    ``nasbench_full.tfrecord``) or an nb1s1 store. A tfrecord is converted once into a store
    beside it (``X.store`` for ``X.tfrecord``), or into ``cache_dir`` (default
    ``$NB1S1_CACHE_DIR`` or ``~/.cache/nb1s1``) when its folder is not writable; later opens
    take milliseconds. ``seed`` seeds Python's global ``random`` as the official code does.
    """

    #: The official ``_check_spec`` crashes with ``TypeError`` on a cell of more than 7
    #: vertices (its message indexes the ``config`` module). False (the default) raises the
    #: intended ``OutOfDomainError``; True reproduces the crash.
    reproduce_vertex_check_crash = False

    # The native query path (``_native.FastQuery``), set when a store is attached.
    _fast_query = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls._direct_query = all(getattr(cls, n) is getattr(NASBench, n) for n in _QUERY_HOOKS)

    def __init__(self, dataset_file, seed=None, *, cache_dir=None, progress=True):
        self.config = _config.build_config()
        random.seed(seed)
        print("Loading dataset from file... This may take a few minutes...")
        start = time.time()
        self._store = open_store(os.fspath(dataset_file), cache_dir=cache_dir, progress=progress)
        self._attach(self._store)
        if self._store.synthetic:
            print("nb1s1: %s is a SYNTHETIC table (made-up metrics), not NAS-Bench-101"
                  % self._store.path, file=sys.stderr)
        print("Loaded dataset in %d seconds" % (time.time() - start))
        self.history = {}
        self.training_time_spent = 0.0
        self.total_epochs_spent = 0

    def _attach(self, store):
        self.fixed_statistics = FixedStatistics(store)
        self.computed_statistics = ComputedStatistics(store)
        self.valid_epochs = set(store.epochs)
        self._fast_query = _native.FastQuery(store, ModelSpec, np, random)

    # Pickled by path: the store is reopened (memory-mapped) in the receiving process.
    def __getstate__(self):
        state = dict(self.__dict__)
        for k in ("_store", "fixed_statistics", "computed_statistics", "_fast_query"):
            state.pop(k, None)
        state["_store_path"] = os.fspath(self._store.path)
        return state

    def __setstate__(self, state):
        state = dict(state)
        store = _native.Store(state.pop("_store_path"))
        self.__dict__.update(state)
        self._store = store
        self._attach(store)

    def query(self, model_spec, epochs=108, stop_halfway=False):
        """Fetch one of the evaluations for this model spec.

        Draws one of ``config['num_repeats']`` repeats with ``random.randint`` and advances
        the budget counters (half the epochs with ``stop_halfway``). Raises
        ``OutOfDomainError`` for a spec or budget outside the data set.
        """
        # The common case answered natively; None (nothing drawn or counted) for the rest.
        fast = self._fast_query
        if fast is not None and self._direct_query:
            data = fast(self, model_spec, epochs, stop_halfway)
            if data is not None:
                return data
        if epochs not in self.valid_epochs:
            raise OutOfDomainError(
                "invalid number of epochs, must be one of %s" % self.valid_epochs
            )
        if self._direct_query:
            self._check_spec(model_spec)
            module_hash = self._hash_spec(model_spec)
            i = self._store.index(module_hash)
            if i is None:
                raise KeyError(module_hash)
            sampled_index = random.randint(0, self.config["num_repeats"] - 1)
            if not self._store.repeat_count(i, epochs):
                raise KeyError(epochs)
            values = self._store.point(i, epochs, sampled_index)
            data = _fixed_dict(self._store, i)
        else:
            fixed_stat, computed_stat = self.get_metrics_from_spec(model_spec)
            sampled_index = random.randint(0, self.config["num_repeats"] - 1)
            run = computed_stat[epochs][sampled_index]
            values = [run[k] for k in _RUN_KEYS]
            data = {
                "module_adjacency": fixed_stat["module_adjacency"],
                "module_operations": fixed_stat["module_operations"],
                "trainable_parameters": fixed_stat["trainable_parameters"],
            }
        at = 0 if stop_halfway else 4
        data["training_time"] = values[at]
        data["train_accuracy"] = values[at + 1]
        data["validation_accuracy"] = values[at + 2]
        data["test_accuracy"] = values[at + 3]
        self.training_time_spent += data["training_time"]
        self.total_epochs_spent += epochs // 2 if stop_halfway else epochs
        return data

    def is_valid(self, model_spec):
        """True if the spec is within the space (the budget counters are not touched)."""
        try:
            self._check_spec(model_spec)
        except OutOfDomainError:
            return False
        return True

    def get_budget_counters(self):
        """Returns the time and budget counters."""
        return self.training_time_spent, self.total_epochs_spent

    def reset_budget_counters(self):
        """Reset the time and epoch budget counters."""
        self.training_time_spent = 0.0
        self.total_epochs_spent = 0

    def evaluate(self, model_spec, model_dir):
        """Not offered: the official method trains the model from scratch with TensorFlow."""
        raise NotImplementedError(
            "NASBench.evaluate() trains a model from scratch with TensorFlow; nb1s1 answers "
            "only from the tabular data set (use query() or get_metrics_from_spec())"
        )

    def hash_iterator(self):
        """Returns a view of every unique model hash, in file order."""
        return self.fixed_statistics.keys()

    def get_metrics_from_hash(self, module_hash):
        """Fixed and computed statistics of a hash (budget counters untouched); KeyError
        when the data set lacks it."""
        return self.fixed_statistics[module_hash], self.computed_statistics[module_hash]

    def get_metrics_from_spec(self, model_spec):
        """Fixed and computed statistics of a spec (budget counters untouched)."""
        self._check_spec(model_spec)
        module_hash = self._hash_spec(model_spec)
        return self.get_metrics_from_hash(module_hash)

    def _check_spec(self, model_spec):
        """Checks that the model spec is within the dataset."""
        if not model_spec.valid_spec:
            raise OutOfDomainError("invalid spec, provided graph is disconnected.")
        num_vertices = len(model_spec.ops)
        # The official code sums the matrix; for 0/1 cells counting non-zeros is the same and
        # several times cheaper.
        num_edges = np.count_nonzero(model_spec.matrix)
        if num_vertices > self.config["module_vertices"]:
            if self.reproduce_vertex_check_crash:
                raise TypeError("'module' object is not subscriptable")
            raise OutOfDomainError(
                "too many vertices, got %d (max vertices = %d)"
                % (num_vertices, self.config["module_vertices"])
            )
        if num_edges > self.config["max_edges"]:
            raise OutOfDomainError(
                "too many edges, got %d (max edges = %d)" % (num_edges, self.config["max_edges"])
            )
        if model_spec.ops[0] != "input":
            raise OutOfDomainError("first operation should be 'input'")
        if model_spec.ops[-1] != "output":
            raise OutOfDomainError("last operation should be 'output'")
        for op in model_spec.ops[1:-1]:
            if op not in self.config["available_ops"]:
                raise OutOfDomainError(
                    "unsupported op %s (available ops = %s)" % (op, self.config["available_ops"])
                )

    def _hash_spec(self, model_spec):
        """Returns the MD5 hash for a provided model_spec."""
        return model_spec.hash_spec(self.config["available_ops"])


NASBench._direct_query = True
