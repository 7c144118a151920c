"""Benchmark a one-shot method written anywhere: record its architecture weights every epoch
into a run folder that ``nb1s1 results ingest`` and ``nb1s1 report`` treat like a run of
``nb1s1 search``; import the original NAS-Bench-1Shot1 code's run folders the same way."""

import json
import os

import numpy as np

from nb1s1 import _native
from nb1s1._open import open_store

_TIES = ("lower_index", "argpartition")


def _as_float64(x, epoch, name):
    """A numpy float64 array from a numpy array, a torch tensor (detached, moved to the CPU)
    or anything with ``__array__``."""
    if hasattr(x, "detach"):
        x = x.detach()
    if hasattr(x, "cpu"):
        x = x.cpu()
    try:
        a = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise ValueError("epoch %d: %s: not an array of numbers (%s)" % (epoch, name, e)) from None
    return a


def _layout(arch_weights, epoch):
    """The original's list (operations, output, inputs per node) from a list or a dict."""
    if isinstance(arch_weights, dict):
        unknown = set(arch_weights) - {"ops", "output", "inputs"}
        missing = {"ops", "output", "inputs"} - set(arch_weights)
        if unknown or missing:
            raise ValueError(
                "epoch %d: arch_weights by name needs exactly 'ops', 'output' and 'inputs' "
                "(missing %s, unknown %s)" % (epoch, sorted(missing), sorted(unknown)))
        return [arch_weights["ops"], arch_weights["output"], *list(arch_weights["inputs"])]
    if isinstance(arch_weights, (list, tuple)):
        return list(arch_weights)
    raise TypeError("epoch %d: arch_weights must be a list (model.arch_parameters()) or a dict "
                    "with 'ops', 'output' and 'inputs', not %s" % (epoch, type(arch_weights).__name__))


class Recorder:
    """A run folder filled epoch by epoch from a method's architecture weights.

    ``Recorder(space, nb101, run_dir, method, seed, settings=None)`` creates the folder, or
    reopens it to continue after its last epoch (with the same method, space and seed).
    ``record(epoch, arch_weights, metrics=None)`` discretizes the weights with nb1s1's rule,
    looks the cell up in NAS-Bench-101 and appends the epoch's record, which it returns as a
    dict. ``finish()`` marks the run complete. Use it as a context manager to release the
    folder's lock at the end (it does not finish the run).
    """

    def __init__(self, space, nb101, run_dir, method, seed, settings=None,
                 ties="lower_index", original_reference=False, epochs=0, cache_dir=None):
        if ties not in _TIES:
            raise ValueError("ties %r: expected one of %s" % (ties, _TIES))
        store = nb101 if isinstance(nb101, _native.Store) else open_store(
            nb101, cache_dir=cache_dir, progress=False)
        try:
            settings_json = json.dumps({} if settings is None else settings, allow_nan=False)
        except (TypeError, ValueError) as e:
            raise ValueError("settings must be JSON-serialisable without NaN: %s" % e) from None
        self._native = _native.Recorder(
            os.fspath(run_dir), store, int(space), str(method), int(seed), settings_json, ties,
            bool(original_reference), int(epochs))
        self.run_dir = os.fspath(run_dir)
        self.space = int(space)

    @property
    def next_epoch(self):
        """The epoch the next ``record`` must carry (0 for a new run)."""
        return self._native.next_epoch

    @property
    def complete(self):
        """Whether ``finish()`` was called."""
        return self._native.complete

    def record(self, epoch, arch_weights, metrics=None):
        """Records ``epoch`` (0, 1, 2, ... in order) and returns its record as a dict."""
        epoch = int(epoch)
        arrays = []
        for i, x in enumerate(_layout(arch_weights, epoch)):
            a = np.ascontiguousarray(_as_float64(x, epoch, "arch_parameters()[%d]" % i))
            arrays.append((list(a.shape), a.astype("<f8", copy=False).tobytes()))
        metrics = {} if metrics is None else {str(k): float(v) for k, v in metrics.items()}
        return json.loads(self._native.record(epoch, arrays, metrics))

    def finish(self):
        """Marks the run complete after its last recorded epoch."""
        self._native.finish()

    def close(self):
        """Releases the run folder's lock (the run stays as it is: reopen to continue)."""
        self._native.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def import_original(dirs, nb101, out, method=None, seed=None, ties="lower_index",
                    original_reference=False, cache_dir=None):
    """``nb1s1 import original`` from Python: each folder of the original code (``config.json``,
    ``one_shot_architecture_<e>.obj``) becomes a run folder under ``out``; returns one dict per
    folder (``run_dir``, ``method``, ``space``, ``seed``, ``recorded``, ``kept``)."""
    if ties not in _TIES:
        raise ValueError("ties %r: expected one of %s" % (ties, _TIES))
    if isinstance(dirs, (str, os.PathLike)):
        dirs = [dirs]
    store = nb101 if isinstance(nb101, _native.Store) else open_store(
        nb101, cache_dir=cache_dir, progress=False)
    rows = _native.import_original([os.fspath(d) for d in dirs], store, os.fspath(out),
                                   method, seed, ties, bool(original_reference))
    for r in rows:
        for k in ("space", "seed", "recorded", "kept"):
            r[k] = int(r[k])
    return rows
