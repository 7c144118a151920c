"""The NAS-Bench-1Shot1 search spaces and black-box optimizers of the Rust crates
(``searchspace``, ``blackbox``). An architecture is a dict ``{"space": n, "ops": [...],
"parents": [[...], ...]}``: an op name per choice block and a sorted parent list per node (the
output last), the JSON the CLI writes."""

import json
import os

import numpy as np

from nb1s1 import _native


class SearchSpace(object):
    """Search space 1, 2 or 3: enumeration, sampling, mutation and conversion to NB-101."""

    def __init__(self, number):
        self._space = _native.SearchSpace(int(number))

    def __reduce__(self):
        return (SearchSpace, (self.number,))

    def __repr__(self):
        return "SearchSpace(%d)" % self.number

    @property
    def number(self):
        return self._space.number

    @property
    def num_choice_blocks(self):
        return self._space.num_choice_blocks

    @property
    def parents_per_node(self):
        """How many parents nodes 1..N and the output take."""
        return list(self._space.parents_per_node)

    def __len__(self):
        return self._space.num_configurations()

    def configuration(self, index):
        """Configuration ``index`` of the enumeration order."""
        return json.loads(self._space.configuration(int(index)))

    def configuration_index(self, arch):
        return self._space.configuration_index(json.dumps(arch))

    def sample(self, count=1, seed=0):
        """``count`` uniform random architectures (deterministic per seed)."""
        return [json.loads(a) for a in self._space.sample(int(seed), int(count))]

    def mutate(self, arch, seed=0):
        """One random mutation of ``arch`` (a different op or parent set of one node)."""
        return json.loads(self._space.mutate(json.dumps(arch), int(seed)))

    def to_nb101(self, arch):
        """The 7-vertex NB-101 cell before pruning: (int8 matrix, op names)."""
        flat, ops = self._space.to_nb101(json.dumps(arch))
        return np.frombuffer(flat, dtype=np.int8).reshape(7, 7).copy(), ops

    def hash(self, arch):
        """The NB-101 graph hash of ``arch``."""
        return self._space.hash(json.dumps(arch))

    def unique_models(self):
        """Every unique NB-101 model of the space: a list of (hash, representative)."""
        return [(h, json.loads(a)) for h, a in self._space.unique_models()]


def run_optimizer(optimizer, space, nb101, queries, seed=0, reference="exact"):
    """Runs a black-box optimizer (``rs``, ``re``, ``reinforce``, ``tpe``, ``hb``, ``bohb``,
    ``smac``) on space 1-3 over an NB-101 file that holds every model of the space; returns the
    trajectory as a list of dicts (the ``trajectory.jsonl`` schema of docs/searchspaces.md)."""
    lines = _native.run_optimizer(
        optimizer, int(space), os.fspath(nb101), int(queries), int(seed), reference
    )
    return [json.loads(line) for line in lines]


def trajectory_frame(records):
    """A trajectory as a pandas DataFrame (needs pandas)."""
    import pandas as pd

    return pd.DataFrame.from_records(records)
