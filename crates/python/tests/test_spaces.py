"""The native spaces and black-box optimizers, cross-checked against the ``nasbench_analysis``
compatibility layer (two independent conversions of the same architecture must hash alike)."""

import os
import pickle

import numpy as np
import pytest

import nb1s1
from nasbench import api
from nasbench_analysis.search_spaces.search_space_1 import SearchSpace1
from nasbench_analysis.search_spaces.search_space_3 import SearchSpace3
from nasbench_analysis.utils import CONV1X1, INPUT, OUTPUT

OPS = ["conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3"]


def compat_hash(compat, arch):
    config = {}
    for k, parents in enumerate(arch["parents"], 1):
        config["choice_block_%d_parents" % k] = tuple(parents)
    for k, op in enumerate(arch["ops"], 1):
        config["choice_block_%d_op" % k] = op
    matrix, ops = compat.convert_config_to_nasbench_format(config)
    pad = [] if isinstance(compat, SearchSpace3) else [CONV1X1]
    spec = api.ModelSpec(matrix.astype(int), [INPUT, *ops, *pad, OUTPUT])
    return spec.hash_spec(OPS)


@pytest.mark.parametrize("number,compat,configs", [(1, SearchSpace1, 14580), (3, SearchSpace3, None)])
def test_space_against_compat(number, compat, configs):
    space = nb1s1.SearchSpace(number)
    if configs:
        assert len(space) == configs
    for arch in space.sample(count=50, seed=number):
        assert space.hash(arch) == compat_hash(compat(), arch)
        assert space.configuration(space.configuration_index(arch)) == arch
        matrix, ops = space.to_nb101(arch)
        assert matrix.shape == (7, 7) and ops[0] == "input" and ops[-1] == "output"
        assert api.ModelSpec(matrix, ops).hash_spec(OPS) == space.hash(arch)
        child = space.mutate(arch, seed=1)
        changed = sum(a != b for a, b in zip(arch["ops"], child["ops"])) + sum(
            a != b for a, b in zip(arch["parents"], child["parents"]))
        assert changed == 1
    assert space.sample(count=5, seed=9) == space.sample(count=5, seed=9)
    assert pickle.loads(pickle.dumps(space)).number == number
    with pytest.raises(ValueError, match="space"):
        space.hash(dict(arch, space=2))


def test_unknown_space_and_bad_architecture():
    with pytest.raises(ValueError):
        nb1s1.SearchSpace(4)
    space = nb1s1.SearchSpace(1)
    bad = space.configuration(0)
    bad["parents"][2] = [0]
    with pytest.raises(ValueError, match="parents"):
        space.hash(bad)


@pytest.fixture(scope="module")
def space1_table(tmp_path_factory):
    """A SYNTHETIC table of every unique model of space 1."""
    space = nb1s1.SearchSpace(1)
    models = space.unique_models()
    assert len(models) == 2685
    cells = [space.to_nb101(a) for _, a in models]
    path = tmp_path_factory.mktemp("s1") / "space1.tfrecord"
    written = nb1s1.generate_from_specs(path, np.stack([c[0] for c in cells]), [c[1] for c in cells])
    assert written == 2685
    return str(path)


@pytest.mark.parametrize("optimizer", ["rs", "re", "tpe"])
def test_optimizers_run_from_python(space1_table, optimizer):
    runs = nb1s1.run_optimizer(optimizer, 1, space1_table, queries=40, seed=3)
    assert len(runs) == 40 and [r["query"] for r in runs] == list(range(1, 41))
    assert runs == nb1s1.run_optimizer(optimizer, 1, space1_table, queries=40, seed=3)
    inc = [r["incumbent_valid_error"] for r in runs]
    assert all(b <= a for a, b in zip(inc, inc[1:]))
    assert min(r["valid_error"] for r in runs) == inc[-1]
    try:
        frame = nb1s1.trajectory_frame(runs)
    except ImportError:
        if os.environ.get("CI", "").lower() == "true":
            raise  # scripts/python-test.sh installs pandas: CI must not skip
        return
    assert len(frame) == 40 and "incumbent_test_regret" in frame.columns


def test_optimizer_refuses_incomplete_tables(fixture_copies):
    with pytest.raises(ValueError, match="missing"):
        nb1s1.run_optimizer("rs", 1, fixture_copies["real_30_only108.tfrecord"], queries=5)
    with pytest.raises(ValueError):
        nb1s1.run_optimizer("nope", 1, fixture_copies["real_30_only108.tfrecord"], queries=5)
