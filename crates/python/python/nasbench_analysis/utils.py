"""Constants and cell helpers of ``nasbench_analysis.utils``."""

import itertools

import numpy as np

from nasbench import api

INPUT = "input"
OUTPUT = "output"
CONV1X1 = "conv1x1-bn-relu"
CONV3X3 = "conv3x3-bn-relu"
MAXPOOL3X3 = "maxpool3x3"
#: Index of the output vertex in a 7-vertex NAS-Bench-101 cell.
OUTPUT_NODE = 6
#: The choice-block operations in NAS-Bench-1Shot1's order.
PRIMITIVES = [MAXPOOL3X3, CONV3X3, CONV1X1]


class NasbenchWrapper(api.NASBench):
    """``NASBench`` whose ``query`` returns every repeat (a list of official query dicts) and
    charges the budget counters for each, as NAS-Bench-1Shot1 evaluates architectures."""

    def query(self, model_spec, epochs=108, stop_halfway=False):
        if epochs not in self.valid_epochs:
            raise api.OutOfDomainError(
                "invalid number of epochs, must be one of %s" % self.valid_epochs
            )
        fixed, computed = self.get_metrics_from_spec(model_spec)
        prefix = "halfway_" if stop_halfway else "final_"
        out = []
        for index in range(self.config["num_repeats"]):
            run = computed[epochs][index]
            data = {
                "module_adjacency": fixed["module_adjacency"],
                "module_operations": fixed["module_operations"],
                "trainable_parameters": fixed["trainable_parameters"],
            }
            for key in ("training_time", "train_accuracy", "validation_accuracy", "test_accuracy"):
                data[key] = run[prefix + key]
            self.training_time_spent += data["training_time"]
            self.total_epochs_spent += epochs // 2 if stop_halfway else epochs
            out.append(data)
        return out


def get_top_k(array, k):
    """Indices of the k largest entries of ``array[0]`` (in no particular order)."""
    return list(np.argpartition(array[0], -k)[-k:])


def parent_combinations(adjacency_matrix, node, n_parents=2):
    """Every set of ``n_parents`` lower-numbered vertices not yet feeding ``node`` (the input
    alone for vertex 1)."""
    if node == 1:
        return [[0]]
    free = np.argwhere(np.asarray(adjacency_matrix)[:node, node] == 0).flatten()
    return itertools.combinations(free, n_parents)


def upscale_to_nasbench_format(adjacency_matrix):
    """Pads a 6-vertex cell (spaces 1 and 2) to NAS-Bench-101's 7 by inserting an unused
    vertex before the output."""
    m = np.asarray(adjacency_matrix)
    return np.insert(np.insert(m, 5, 0, axis=1), 5, 0, axis=0)
