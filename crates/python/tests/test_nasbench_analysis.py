"""``nasbench_analysis`` as NAS-Bench-1Shot1 and HPOBench use it: the spaces' configuration
spaces, configuration -> NAS-Bench-101 cell, sampling, enumeration, and HPOBench's objective
path (config -> spec -> query with a fixed repeat, OutOfDomainError -> failure result) over a
synthetic table of the sampled cells."""

import itertools
import os
import random

import numpy as np
import pytest

import nb1s1
from nasbench import api
from nasbench_analysis import utils
from nasbench_analysis.search_spaces.search_space_1 import SearchSpace1
from nasbench_analysis.search_spaces.search_space_2 import SearchSpace2
from nasbench_analysis.search_spaces.search_space_3 import SearchSpace3

SPACES = [SearchSpace1, SearchSpace2, SearchSpace3]


def require(module):
    if os.environ.get("CI", "").lower() == "true":
        return __import__(module)
    return pytest.importorskip(module)


def random_config(space, rng):
    nodes = list(space.num_parents_per_node.items())
    config = {"choice_block_%s_op" % n: rng.choice(utils.PRIMITIVES) for n, _ in nodes[1:-1]}
    for n, k in nodes[1:]:
        config["choice_block_%s_parents" % n] = rng.choice(
            list(itertools.combinations(range(int(n)), k)))
    return config


def spec_of(space, config):
    """HPOBench's conversion: space 3 has 5 choice blocks, 1 and 2 four plus an unused vertex."""
    matrix, ops = space.convert_config_to_nasbench_format(config)
    pad = [] if isinstance(space, SearchSpace3) else [utils.CONV1X1]
    return api.ModelSpec(matrix=matrix.astype(int).tolist(), ops=[utils.INPUT, *ops, *pad, utils.OUTPUT])


def query_with_run_index(nb, spec, run_index, epochs=108):
    """HPOBench's objective: a given repeat instead of a random one; failure on bad cells."""
    try:
        fixed, computed = nb.get_metrics_from_spec(spec)
    except api.OutOfDomainError:
        return {"info": "failure", "validation_accuracy": 0}
    run = computed[epochs][run_index]
    nb.training_time_spent += run["final_training_time"]
    nb.total_epochs_spent += epochs
    return {"trainable_parameters": fixed["trainable_parameters"],
            "validation_accuracy": run["final_validation_accuracy"],
            "test_accuracy": run["final_test_accuracy"],
            "training_time": run["final_training_time"]}


@pytest.fixture(scope="module")
def space_table(tmp_path_factory):
    """A synthetic table holding 60 sampled cells of each space, and those configs."""
    rng = random.Random(7)
    configs = [(cls(), random_config(cls(), rng)) for cls in SPACES for _ in range(60)]
    specs = [spec_of(s, c) for s, c in configs]
    mats = np.zeros((len(specs), 7, 7), dtype=np.uint8)
    ops = []
    for i, s in enumerate(specs):
        n = len(s.ops)
        mats[i, : n - 1, : n - 1] = s.matrix[: n - 1, : n - 1]
        mats[i, : n - 1, 6] = s.matrix[: n - 1, n - 1]
        ops.append(s.ops[:-1] + ["conv3x3-bn-relu"] * (7 - n) + ["output"])
    path = tmp_path_factory.mktemp("spaces") / "spaces.tfrecord"
    written = nb1s1.generate_from_specs(path, mats, ops)
    assert 0 < written <= len(specs)
    return str(path), configs


def test_hpobench_objective_path(space_table, capsys):
    path, configs = space_table
    nb = api.NASBench(path, progress=False)
    assert "SYNTHETIC" in capsys.readouterr().err
    for space, config in configs:
        spec = spec_of(space, config)
        assert nb.is_valid(spec), config
        fixed, computed = nb.get_metrics_from_spec(spec)
        for run_index in range(3):
            data = query_with_run_index(nb, spec, run_index)
            assert data["validation_accuracy"] == computed[108][run_index]["final_validation_accuracy"]
        valid, time_spent = space.objective_function(nb, config)
        last = space.run_history[-1][2]
        assert (valid, time_spent) == (last["validation_accuracy"], last["training_time"])
        assert valid in [r["final_validation_accuracy"] for r in computed[108]]
    bad = dict(configs[0][1], choice_block_1_op="conv5x5-bn-relu")
    assert query_with_run_index(nb, spec_of(configs[0][0], bad), 0)["info"] == "failure"
    assert nb.get_budget_counters()[1] == 108 * 4 * len(configs)


def test_wrapper_returns_every_repeat(space_table, capsys):
    path, configs = space_table
    nb = utils.NasbenchWrapper(path, progress=False)
    spec = spec_of(*configs[0])
    runs = nb.query(spec)
    assert len(runs) == 3 and nb.total_epochs_spent == 3 * 108
    assert [r["test_accuracy"] for r in runs] == [
        r["final_test_accuracy"] for r in nb.get_metrics_from_spec(spec)[1][108]]
    capsys.readouterr()


@pytest.mark.parametrize("cls", SPACES)
def test_config_conversion_shapes(cls):
    space = cls()
    config = random_config(space, random.Random(1))
    matrix, ops = space.convert_config_to_nasbench_format(config)
    assert matrix.shape == (7, 7) and len(ops) == space.num_intermediate_nodes
    assert np.all(np.tril(matrix) == 0)
    # Every vertex of the space receives exactly its number of parents.
    cols = np.sum(matrix, axis=0)
    order = [int(n) for n in space.num_parents_per_node]
    real = [v if v < 5 or isinstance(space, SearchSpace3) else v + 1 for v in order]
    assert [int(cols[v]) for v in real] == list(space.num_parents_per_node.values())


@pytest.mark.parametrize("cls", SPACES)
def test_sampling(cls):
    space = cls()
    random.seed(3)
    for with_loose_ends in (True, False):
        for _ in range(20):
            matrix, ops = space.sample(with_loose_ends=with_loose_ends)
            assert matrix.shape == (7, 7) and len(ops) == space.num_intermediate_nodes
            assert set(ops) <= set(utils.PRIMITIVES)
            assert np.sum(matrix) <= 9


@pytest.mark.parametrize("cls,unique", [(SearchSpace1, 2685), (SearchSpace2, 7773)])
def test_every_configuration_converts_to_the_engines_models(cls, unique):
    """Every configuration of spaces 1 and 2 (14,580 and 29,160), converted as HPOBench
    converts it and hashed in one batch, gives the unique-model counts of the Rust searchspace
    crate (docs/searchspaces.md), and every converted cell is a valid NB-101 cell."""
    space = cls()
    nodes = list(space.num_parents_per_node.items())
    parent_choices = [list(itertools.combinations(range(int(n)), k)) for n, k in nodes[1:]]
    mats, labels = [], []
    for parents in itertools.product(*parent_choices):
        config = {"choice_block_%s_parents" % n: p for (n, _), p in zip(nodes[1:], parents)}
        for n, _ in nodes[1:-1]:
            config["choice_block_%s_op" % n] = utils.CONV3X3
        matrix, _ = space.convert_config_to_nasbench_format(config)
        for ops in itertools.product(range(3), repeat=space.num_intermediate_nodes):
            mats.append(matrix)
            labels.append([0, *ops, 1, 0])  # the unused vertex 5 (conv1x1) is pruned away
    hashes, status = nb1s1.spec_hashes(np.array(mats), np.array(labels))
    assert len(mats) == {SearchSpace1: 14580, SearchSpace2: 29160}[cls]
    assert set(status) == {""}
    assert len(set(hashes)) == unique


def test_configuration_space():
    cs_module = require("ConfigSpace")
    space = SearchSpace3()
    cs = space.get_configuration_space()
    names = sorted(cs.keys()) if hasattr(cs, "keys") else sorted(cs.get_hyperparameter_names())
    assert names == sorted(["choice_block_%d_op" % i for i in range(1, 6)]
                           + ["choice_block_%d_parents" % i for i in range(1, 7)])
    cs.seed(0)
    config = dict(cs.sample_configuration())
    matrix, ops = space.convert_config_to_nasbench_format(config)
    assert matrix.shape == (7, 7) and len(ops) == 5
    assert isinstance(cs, cs_module.ConfigurationSpace)


def test_upscale_and_constants():
    m = np.triu(np.ones((6, 6)), 1)
    up = utils.upscale_to_nasbench_format(m)
    assert up.shape == (7, 7) and not up[5].any() and not up[:, 5].any()
    assert utils.OUTPUT_NODE == 6 and utils.CONV3X3 == "conv3x3-bn-relu"
    assert list(utils.parent_combinations(np.zeros((7, 7)), 1)) == [[0]]
    assert len(list(utils.parent_combinations(np.zeros((7, 7)), 3, n_parents=2))) == 3
