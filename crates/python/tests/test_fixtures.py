"""The official API's answers for every fixture model, bit for bit, through the compatibility
API: from the tfrecord (converted on first open), from the store it wrote, and from the
tfrecord parsed in memory by the native module."""

import os
import random
import struct

import numpy as np
import pytest

from nasbench import api
from nb1s1 import _native

RUN_KEYS = sorted(
    "%s_%s" % (p, k)
    for p in ("halfway", "final")
    for k in ("training_time", "train_accuracy", "validation_accuracy", "test_accuracy")
)


def bits(x):
    assert isinstance(x, float), type(x)
    return struct.pack("<d", x)


def assert_model(expected_model, fixed, computed):
    assert fixed["module_adjacency"].dtype == np.int8
    assert fixed["module_adjacency"].tolist() == expected_model["module_adjacency"]
    assert fixed["module_operations"] == expected_model["module_operations"]
    assert fixed["trainable_parameters"] == expected_model["trainable_parameters"]
    assert isinstance(fixed["trainable_parameters"], int)
    want = expected_model["computed_stats"]
    assert sorted(computed) == sorted(int(e) for e in want)
    for epochs, runs in want.items():
        got = computed[int(epochs)]
        assert len(got) == len(runs)
        for g, w in zip(got, runs):
            assert sorted(g) == RUN_KEYS
            for k in RUN_KEYS:
                assert bits(g[k]) == bits(w[k]), (epochs, k, g[k], w[k])


def opened(path, **kw):
    return api.NASBench(path, seed=1, progress=False, **kw)


@pytest.mark.parametrize("source", ["tfrecord", "store", "cache_dir"])
def test_every_model_bit_for_bit(expected, fixture_copies, tmp_path, source, capsys):
    for name, info in expected["files"].items():
        path = fixture_copies[name]
        if source == "tfrecord":
            nb = opened(path)
        elif source == "store":
            opened(path)
            store = os.path.splitext(path)[0] + ".store"
            assert os.path.exists(store) and not _native.is_tfrecord(store)
            nb = opened(store)
        else:
            folder = tmp_path / name
            folder.mkdir()
            copy = folder / name
            copy.write_bytes(open(path, "rb").read())
            cache = tmp_path / "cache" / name
            nb = opened(str(copy), cache_dir=str(cache))
            assert sorted(os.listdir(folder)) == [name]
            assert len(os.listdir(cache)) == 1
        assert nb.valid_epochs == {int(e) for m in info["hashes"] for e in expected["models"][m]["computed_stats"]}
        assert list(nb.hash_iterator()) == info["hashes"]
        assert len(nb.hash_iterator()) == len(info["hashes"])
        for h in info["hashes"]:
            fixed, computed = nb.get_metrics_from_hash(h)
            assert_model(expected["models"][h], fixed, computed)
    out = capsys.readouterr().out
    assert "Loading dataset from file" in out and "Loaded dataset in" in out


def test_tfrecord_parsed_in_memory(expected, fixture_copies):
    """The native Store reads a tfrecord directly too (no store written)."""
    for name, info in expected["files"].items():
        store = _native.Store(fixture_copies[name])
        assert not store.is_store
        assert list(store.hashes()) == info["hashes"]
        for i, h in enumerate(info["hashes"]):
            assert store.index(h) == i
            flat, n, ops, params = store.fixed(i)
            fixed = {
                "module_adjacency": np.frombuffer(flat, np.int8).reshape(n, n),
                "module_operations": ops,
                "trainable_parameters": params,
            }
            assert_model(expected["models"][h], fixed, store.computed(i))


def test_seeded_query_by_stored_spec(expected, real30, capsys):
    """query() of every stored cell returns the repeat random.randint(0, 2) picks from the
    global stream seeded by NASBench(file, seed), final and halfway."""
    hashes = expected["files"]["real_30_only108.tfrecord"]["hashes"]
    for stop_halfway in (False, True):
        nb = api.NASBench(real30, seed=123, progress=False)
        replay = random.Random(123)
        prefix = "halfway_" if stop_halfway else "final_"
        for h in hashes + hashes:
            m = expected["models"][h]
            spec = api.ModelSpec(m["module_adjacency"], m["module_operations"])
            data = nb.query(spec, stop_halfway=stop_halfway)
            want = m["computed_stats"]["108"][replay.randint(0, 2)]
            for k in ("training_time", "train_accuracy", "validation_accuracy", "test_accuracy"):
                assert bits(data[k]) == bits(want[prefix + k])
            assert data["module_adjacency"].tolist() == m["module_adjacency"]
            assert data["module_operations"] == m["module_operations"]
            assert data["trainable_parameters"] == m["trainable_parameters"]
    capsys.readouterr()


def test_one_repeat_file_behaves_as_official(expected, fixture_copies, capsys):
    """p2 holds one repeat: query() raises IndexError whenever randint draws 1 or 2."""
    nb = api.NASBench(fixture_copies["p2_first_record.tfrecord"], seed=0, progress=False)
    m = expected["models"]["00005c142e6f48ac74fdcf73e3439874"]
    spec = api.ModelSpec(m["module_adjacency"], m["module_operations"])
    replay = random.Random(0)
    for _ in range(12):
        k = replay.randint(0, 2)
        if k == 0:
            assert bits(nb.query(spec, epochs=4)["test_accuracy"]) == bits(
                m["computed_stats"]["4"][0]["final_test_accuracy"]
            )
        else:
            with pytest.raises(IndexError):
                nb.query(spec, epochs=4)
    capsys.readouterr()


def test_unwritable_folder_uses_the_cache(fixture_copies, tmp_path, monkeypatch, capsys):
    """A tfrecord in a folder we cannot write is converted into $NB1S1_CACHE_DIR, under a name
    carrying its size and mtime; the second open reuses that store."""
    from nb1s1 import _open

    path = fixture_copies["p1_full.tfrecord"]
    monkeypatch.setenv("NB1S1_CACHE_DIR", str(tmp_path / "c"))
    monkeypatch.setattr(_open.os, "access", lambda *a: False)
    target = _open.store_path_for(path)
    assert os.path.dirname(target) == str(tmp_path / "c")
    assert os.path.basename(target).startswith("p1_full-%d-" % os.path.getsize(path))
    opened(path)
    first = os.stat(target).st_mtime_ns
    opened(path)
    assert os.stat(target).st_mtime_ns == first
    capsys.readouterr()
