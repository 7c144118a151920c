"""nb1s1.Recorder and nb1s1.import_original: a method's architecture weights, recorded epoch by
epoch (numpy stand-in for a PyTorch loop), give the errors the original evaluation script's rule
gives, in the run format ``nb1s1 search`` writes; bad input is refused naming epoch and array."""

import json
import os
import pickle

import numpy as np
import pytest

import nb1s1
from nasbench import api
from nasbench_analysis.search_spaces.search_space_1 import SearchSpace1
from nasbench_analysis.search_spaces.search_space_2 import SearchSpace2
from nasbench_analysis.search_spaces.search_space_3 import SearchSpace3
from nasbench_analysis.utils import INPUT, OUTPUT, CONV1X1, PRIMITIVES, NasbenchWrapper

EDGE_NODES = {1: [3, 4], 2: [2, 3, 4], 3: [2, 3, 4, 5]}
BLOCKS = {1: 4, 2: 4, 3: 5}


@pytest.fixture(scope="module", params=[1, 2, 3])
def table(request, tmp_path_factory):
    """A SYNTHETIC table of every unique model of one space."""
    number = request.param
    space = nb1s1.SearchSpace(number)
    cells = [space.to_nb101(a) for _, a in space.unique_models()]
    path = tmp_path_factory.mktemp("s%d" % number) / ("space%d.tfrecord" % number)
    nb1s1.generate_from_specs(path, np.stack([c[0] for c in cells]), [c[1] for c in cells])
    return number, str(path)


def weights(space, rng):
    """Architecture weights in the layout of the original's ``model.arch_parameters()``."""
    n = BLOCKS[space]
    out = [rng.normal(size=(n, 3)).astype(np.float32), rng.normal(size=(1, n + 1)).astype(np.float32)]
    return out + [rng.normal(size=(1, k)).astype(np.float32) for k in EDGE_NODES[space]]


def softmax32(a, axis=-1):
    a = np.asarray(a, dtype=np.float32)
    e = np.exp(a - a.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def original_rule(space, arrays, nasbench):
    """The rule of the original's nasbench_analysis/eval_darts_one_shot_model_in_nasbench.py:
    argmax of the softmaxed operation weights, np.argpartition top-k of the softmaxed edge and
    output weights, the NB-101 adjacency matrix of the space, every repeat through
    NasbenchWrapper.query (the official API's semantics)."""
    ops = [PRIMITIVES[i] for i in softmax32(arrays[0]).argmax(-1)]
    top = lambda a, k: list(np.argpartition(softmax32(a, 1)[0], -k)[-k:])
    sp = {1: SearchSpace1, 2: SearchSpace2, 3: SearchSpace3}[space]()
    counts = list(sp.num_parents_per_node.values())
    parents = {"0": [], "1": [0]}
    if space == 1:
        parents["2"] = [0, 1]
    for node, a in zip(EDGE_NODES[space], arrays[2:]):
        parents[str(node)] = top(a, counts[node])
    out = str(BLOCKS[space] + 1)
    parents[out] = top(arrays[1], counts[-1])
    node_list = [INPUT, *ops, CONV1X1, OUTPUT] if space != 3 else [INPUT, *ops, OUTPUT]
    matrix = sp.create_nasbench_adjacency_matrix(parents).astype(int).tolist()
    spec = api.ModelSpec(matrix=matrix, ops=node_list)
    if not nasbench.is_valid(spec):
        return [], []
    data = nasbench.query(spec)
    return [1 - d["test_accuracy"] for d in data], [1 - d["validation_accuracy"] for d in data]


def test_recorded_errors_equal_the_original_rule_and_reopen(table, tmp_path, capsys):
    space, path = table
    nasbench = NasbenchWrapper(path, progress=False)
    capsys.readouterr()
    rng = np.random.default_rng(space)
    run = tmp_path / "run"
    epochs = [weights(space, rng) for _ in range(6)]
    with nb1s1.Recorder(space, path, run, "numpy-method", seed=2, settings={"lr": 0.1}) as rec:
        for e, w in enumerate(epochs[:4]):
            r = rec.record(e, w, {"train_loss": 1.0 / (e + 1)})
            test, valid = original_rule(space, w, nasbench)
            assert r["test_errors"] == pytest.approx(test, abs=0) and r["valid_errors"] == pytest.approx(valid, abs=0)
            assert r["epoch"] == e and r["train_loss"] == 1.0 / (e + 1)
    # Reopened, it continues; a repeat, a gap and another method are refused.
    with nb1s1.Recorder(space, path, run, "numpy-method", seed=2) as rec:
        assert rec.next_epoch == 4
        with pytest.raises(ValueError, match="epoch 3 is already recorded"):
            rec.record(3, epochs[3])
        with pytest.raises(ValueError, match="gap"):
            rec.record(5, epochs[5])
        rec.record(4, {"ops": epochs[4][0], "output": epochs[4][1], "inputs": epochs[4][2:]})
        rec.finish()
    with pytest.raises(ValueError, match="method numpy-method"):
        nb1s1.Recorder(space, path, run, "other", seed=2)
    lines = [json.loads(l) for l in open(run / "epochs.jsonl")]
    assert [l["epoch"] for l in lines] == [0, 1, 2, 3, 4]
    assert json.load(open(run / "status.json"))["status"] == "complete"
    meta = json.load(open(run / "run.json"))
    assert meta["optimizer"] == "numpy-method" and meta["external"]["kind"] == "recorded"
    assert meta["external"]["settings"] == {"lr": 0.1}


def test_bad_weights_name_the_epoch_and_array(table, tmp_path):
    space, path = table
    rng = np.random.default_rng(0)
    with nb1s1.Recorder(space, path, tmp_path / "r", "m", seed=0) as rec:
        w = weights(space, rng)
        w[1] = w[1].copy()
        w[1][0, 0] = np.nan
        with pytest.raises(ValueError, match=r"epoch 0: arch_parameters\(\)\[1\] \(output\).*NaN"):
            rec.record(0, w)
        w = weights(space, rng)
        with pytest.raises(ValueError, match=r"epoch 0: arch_parameters\(\)\[0\].*shape"):
            rec.record(0, [w[0][:, :2]] + w[1:])
        with pytest.raises(ValueError, match="arrays, but space"):
            rec.record(0, w[:-1])
        with pytest.raises(ValueError, match="not an array of numbers"):
            rec.record(0, ["x"] + w[1:])
        with pytest.raises(ValueError, match="'ops', 'output' and 'inputs'"):
            rec.record(0, {"ops": w[0]})
        assert rec.next_epoch == 0
        other = 1 if space != 1 else 3
        with pytest.raises(ValueError):
            rec.record(0, weights(other, rng))


def test_import_original_folders(table, tmp_path):
    space, path = table
    rng = np.random.default_rng(7)
    src = tmp_path / "search-darts-s1"
    src.mkdir()
    (src / "config.json").write_text(json.dumps({"search_space": str(space), "seed": 4,
                                                 "save": "experiments/darts/x"}))
    for e in range(3):
        with open(src / ("one_shot_architecture_%d.obj" % e), "wb") as f:
            pickle.dump(weights(space, rng), f)
    rows = nb1s1.import_original(src, path, tmp_path / "out")
    assert rows[0]["method"] == "darts" and rows[0]["recorded"] == 3 and rows[0]["seed"] == 4
    again = nb1s1.import_original([src], path, tmp_path / "out", method="darts")
    assert (again[0]["recorded"], again[0]["kept"]) == (0, 3)
    assert len(open(tmp_path / "out" / "search-darts-s1" / "epochs.jsonl").readlines()) == 3

    class Evil:
        def __reduce__(self):
            return (os.system, ("touch %s" % (tmp_path / "pwned"),))

    with open(src / "one_shot_architecture_3.obj", "wb") as f:
        pickle.dump([Evil()], f)
    with pytest.raises(ValueError, match="refused"):
        nb1s1.import_original(src, path, tmp_path / "out2")
    assert not (tmp_path / "pwned").exists()


def test_other_budgets_of_a_full_table_equal_the_official_api(tmp_path, capsys):
    """With a table of all four budgets (nasbench_full's layout), each record carries 4, 12 and
    36 epochs beside 108, as the official get_metrics_from_hash gives them; the 108-only table
    of the other tests gives no other_budgets key."""
    space = nb1s1.SearchSpace(1)
    cells = [space.to_nb101(a) for _, a in space.unique_models()]
    path = tmp_path / "full.tfrecord"
    nb1s1.generate_from_specs(path, np.stack([c[0] for c in cells]), [c[1] for c in cells],
                              budgets=[4, 12, 36, 108])
    nasbench = api.NASBench(str(path), progress=False)
    capsys.readouterr()
    rng = np.random.default_rng(11)
    with nb1s1.Recorder(1, str(path), tmp_path / "run", "full-method", seed=0) as rec:
        for e in range(3):
            r = rec.record(e, weights(1, rng))
            if r["nb101_hash"] is None:
                assert "other_budgets" not in r
                continue
            _, stats = nasbench.get_metrics_from_hash(r["nb101_hash"])
            assert sorted(int(k) for k in r["other_budgets"]) == [4, 12, 36]
            for budget, got in r["other_budgets"].items():
                want = stats[int(budget)]
                assert got["test_errors"] == [1 - d["final_test_accuracy"] for d in want]
                assert got["valid_errors"] == [1 - d["final_validation_accuracy"] for d in want]
                times = [d["final_training_time"] for d in want]
                assert got["train_seconds"] == pytest.approx(sum(times) / len(times), rel=1e-12)
            assert r["test_errors"] == [1 - d["final_test_accuracy"] for d in stats[108]]
