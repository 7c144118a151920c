"""``SearchSpace``: what spaces 1-3 share. A space is given by how many parents each vertex
takes (``num_parents_per_node``); an architecture by an op per choice block and a parent set
per vertex. Matrices are float arrays as in the original (cast before building a spec)."""

import copy
import itertools
import random

import numpy as np

from nasbench import api
from nasbench_analysis.utils import (
    CONV1X1,
    CONV3X3,
    INPUT,
    MAXPOOL3X3,
    OUTPUT,
    PRIMITIVES,
    upscale_to_nasbench_format,
)
from nasbench_analysis.utils import parent_combinations as parent_combinations_old


def parent_combinations(node, num_parents):
    """Every ``num_parents``-subset of the vertices before ``node``, as sorted tuples."""
    if int(node) == 1 and num_parents == 1:
        return [(0,)]
    return list(itertools.combinations(range(int(node)), num_parents))


class SearchSpace(object):
    """Base of SearchSpace1/2/3; subclasses set ``num_parents_per_node`` and the matrix size."""

    #: Vertices of the space's own matrix before padding (6 for spaces 1-2, 7 for space 3).
    _size = 7

    def __init__(self, search_space_number, num_intermediate_nodes):
        self.search_space_number = search_space_number
        self.num_intermediate_nodes = num_intermediate_nodes
        self.num_parents_per_node = {}
        self.run_history = []

    # -- building matrices ------------------------------------------------------------

    def _to_nasbench(self, adjacency_matrix):
        if self._size == 6:
            return upscale_to_nasbench_format(adjacency_matrix)
        return adjacency_matrix

    def _create_adjacency_matrix_with_loose_ends(self, parents):
        adjacency_matrix = np.zeros([len(parents), len(parents)])
        for node, node_parents in parents.items():
            for parent in node_parents:
                adjacency_matrix[parent, int(node)] = 1
        return adjacency_matrix

    def create_nasbench_adjacency_matrix_with_loose_ends(self, parents):
        """The 7-vertex matrix of a parent assignment ``{'node': parents}``, as given."""
        return self._to_nasbench(self._create_adjacency_matrix_with_loose_ends(parents))

    def _create_adjacency_matrix(self, parents, adjacency_matrix, node):
        # Walks back from the output so that only vertices on a path to it get edges.
        if self._check_validity_of_adjacency_matrix(adjacency_matrix):
            return adjacency_matrix
        for parent in parents[str(node)]:
            adjacency_matrix[parent, node] = 1
            if parent != 0:
                adjacency_matrix = self._create_adjacency_matrix(parents, adjacency_matrix, parent)
        return adjacency_matrix

    def create_nasbench_adjacency_matrix(self, parents, **kwargs):
        """The 7-vertex matrix of the vertices a parent assignment connects to the output."""
        size = self._size
        m = self._create_adjacency_matrix(parents, np.zeros([size, size]), size - 1)
        return self._to_nasbench(m)

    # -- configurations (ConfigSpace, HPOBench) -----------------------------------------

    def convert_config_to_nasbench_format(self, config):
        """(7-vertex matrix, interior ops of the choice blocks) of a configuration dict with
        ``choice_block_{i}_op`` and ``choice_block_{i}_parents`` entries."""
        nodes = list(self.num_parents_per_node)
        parents = {node: config["choice_block_{}_parents".format(node)] for node in nodes[1:]}
        parents["0"] = []
        adjacency_matrix = self.create_nasbench_adjacency_matrix_with_loose_ends(parents)
        ops = [config["choice_block_{}_op".format(node)] for node in nodes[1:-1]]
        return adjacency_matrix, ops

    def get_configuration_space(self):
        """The space as a ``ConfigSpace.ConfigurationSpace`` (needs the ConfigSpace package):
        a categorical op per choice block and a categorical parent tuple per vertex."""
        import ConfigSpace

        cs = ConfigSpace.ConfigurationSpace()
        add = getattr(cs, "add", None) or cs.add_hyperparameter
        nodes = list(self.num_parents_per_node.items())
        for node, _ in nodes[1:-1]:
            add(ConfigSpace.CategoricalHyperparameter(
                "choice_block_{}_op".format(node), [CONV1X1, CONV3X3, MAXPOOL3X3]))
        for node, num_parents in nodes[1:]:
            add(ConfigSpace.CategoricalHyperparameter(
                "choice_block_{}_parents".format(node), parent_combinations(node, num_parents)))
        return cs

    def objective_function(self, nasbench, config, budget=108):
        """(validation accuracy, training time) of one ``query`` of a configuration."""
        adjacency_matrix, node_list = self.convert_config_to_nasbench_format(config)
        ops = [INPUT, *node_list, *self._padding_ops(), OUTPUT]
        spec = api.ModelSpec(matrix=adjacency_matrix.astype(int).tolist(), ops=ops)
        data = nasbench.query(spec, epochs=budget)
        self.run_history.append((adjacency_matrix, ops, data))
        return data["validation_accuracy"], data["training_time"]

    def _padding_ops(self):
        # The unused vertex spaces 1 and 2 insert to fill NAS-Bench-101's 7 (never connected).
        return [CONV1X1] if self._size == 6 else []

    # -- sampling -----------------------------------------------------------------------

    def sample(self, with_loose_ends, upscale=True):
        """A random (matrix, choice-block ops) from Python's global ``random``; with
        ``with_loose_ends`` every vertex gets parents, otherwise only vertices on a path to
        the output."""
        size = self.num_intermediate_nodes + 2
        if with_loose_ends:
            adjacency_matrix = self._sample_adjacency_matrix_with_loose_ends()
        else:
            adjacency_matrix = self._sample_adjacency_matrix_without_loose_ends(
                np.zeros([size, size]), size - 1)
            assert self._check_validity_of_adjacency_matrix(adjacency_matrix), "Incorrect graph"
        if upscale and self.search_space_number in (1, 2):
            adjacency_matrix = upscale_to_nasbench_format(adjacency_matrix)
        return adjacency_matrix, random.choices(PRIMITIVES, k=self.num_intermediate_nodes)

    def _sample_adjacency_matrix_with_loose_ends(self):
        draws = [
            random.sample(list(itertools.combinations(range(int(node)), k)), 1)
            for node, k in self.num_parents_per_node.items()
        ][2:]
        parents = {"0": [], "1": [0]}
        for node, choice in enumerate(draws, 2):
            parents[str(node)] = choice
        return self._create_adjacency_matrix_with_loose_ends(parents)

    def _sample_adjacency_matrix_without_loose_ends(self, adjacency_matrix, node):
        wanted = self.num_parents_per_node[str(node)]
        have = int(np.sum(adjacency_matrix[:, node]))
        options = list(parent_combinations_old(adjacency_matrix, node, n_parents=wanted - have))
        for parent in random.sample(options, 1)[0]:
            adjacency_matrix[parent, node] = 1
            adjacency_matrix = self._sample_adjacency_matrix_without_loose_ends(
                adjacency_matrix, parent)
        return adjacency_matrix

    # -- enumeration --------------------------------------------------------------------

    def _generate_adjacency_matrix(self, adjacency_matrix, node):
        if self._check_validity_of_adjacency_matrix(adjacency_matrix):
            yield adjacency_matrix
            return
        wanted = self.num_parents_per_node[str(node)]
        have = int(np.sum(adjacency_matrix[:, node]))
        for parents in parent_combinations_old(adjacency_matrix, node, n_parents=wanted - have):
            branch = copy.copy(adjacency_matrix)
            for parent in parents:
                branch[parent, node] = 1
                for graph in self._generate_adjacency_matrix(branch, parent):
                    yield graph

    def generate_adjacency_matrix_without_loose_ends(self):
        """Every connectivity pattern without loose ends (7-vertex matrices; a pattern can
        repeat, as in the original walk)."""
        size = self._size
        for m in self._generate_adjacency_matrix(np.zeros([size, size]), size - 1):
            yield self._to_nasbench(m)

    def generate_with_loose_ends(self):
        """Every parent assignment of the vertices 2.. (every vertex gets its parents)."""
        items = list(self.num_parents_per_node.items())[2:]
        for choice in itertools.product(
                *[itertools.combinations(range(int(n)), k) for n, k in items]):
            parents = {"0": [], "1": [0]}
            for (node, _), p in zip(items, choice):
                parents[node] = p
            yield self.create_nasbench_adjacency_matrix_with_loose_ends(parents)

    def generate_search_space_without_loose_ends(self):
        """Every (matrix, ops, ModelSpec) of the space without loose ends: each pattern with
        every op assignment of its used vertices (unused ones get conv1x1)."""
        for adjacency_matrix in self.generate_adjacency_matrix_without_loose_ends():
            used = np.sum(adjacency_matrix, axis=1)[1:-1] > 0
            for combination in itertools.product([CONV1X1, CONV3X3, MAXPOOL3X3],
                                                 repeat=int(np.sum(used))):
                pending = list(combination)
                ops = [INPUT] + [pending.pop() if u else CONV1X1 for u in used] + [OUTPUT]
                spec = api.ModelSpec(matrix=adjacency_matrix.astype(int).tolist(), ops=ops)
                yield adjacency_matrix, ops, spec

    # -- validity -----------------------------------------------------------------------

    def _check_validity_of_adjacency_matrix(self, adjacency_matrix):
        """A cell of the space: some interior vertex used, every used vertex with exactly its
        number of parents, no vertex with outputs but no inputs (or the reverse), the input
        used, and at most 9 edges."""
        m = np.asarray(adjacency_matrix)
        out_deg = np.sum(m, axis=1)
        in_deg = np.sum(m, axis=0)
        if np.sum(out_deg[1:-1] > 0) == 0:
            return False
        for col, deg in enumerate(in_deg):
            if deg > 0 and deg != self.num_parents_per_node[str(col)]:
                return False
        if np.sum(in_deg > 0) != np.sum(out_deg > 0):
            return False
        if out_deg[0] == 0:
            return False
        return np.sum(m) <= 9
