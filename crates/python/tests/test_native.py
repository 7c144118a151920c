"""The native API: batch queries of specs and hashes to numpy, pickling, DataFrames, errors."""

import os
import pickle

import numpy as np
import pytest

import nb1s1
from nasbench import api


def padded(m, ops, v=7):
    """A stored cell padded to v vertices with isolated vertices (pruned away again)."""
    n = len(ops)
    out = np.zeros((v, v), dtype=np.uint8)
    out[: n - 1, : n - 1] = np.array(m)[: n - 1, : n - 1]
    out[: n - 1, v - 1] = np.array(m)[: n - 1, n - 1]
    names = list(ops[:-1]) + ["conv3x3-bn-relu"] * (v - n) + ["output"]
    return out, names


def test_batch_specs_equal_the_compat_answers(nb, real30, expected):
    db = nb1s1.NB101(real30, progress=False)
    hashes = expected["files"]["real_30_only108.tfrecord"]["hashes"]
    cells = [padded(expected["models"][h]["module_adjacency"], expected["models"][h]["module_operations"]) for h in hashes]
    mats = np.stack([c[0] for c in cells])
    ops = [c[1] for c in cells]
    vals = db.query_specs(mats, ops)
    assert vals.shape == (30, 3, 8)
    got, status = db.spec_hashes(mats, ops)
    assert list(got) == hashes and set(status) == {""}
    for i, h in enumerate(hashes):
        computed = nb.computed_statistics[h][108]
        for k in range(3):
            assert vals[i, k].tolist() == [computed[k][key] for key in nb1s1.KEYS]
    labels = np.array([[0] + [nb1s1.AVAILABLE_OPS.index(o) for o in row[1:-1]] + [0] for row in ops])
    assert np.array_equal(db.query_specs(mats, labels), vals, equal_nan=True)
    assert np.array_equal(db.query_hashes(hashes), vals)
    # Repeated cells (hashed once), int8 matrices with op codes, and nested lists all agree.
    order = np.random.default_rng(0).permutation(np.tile(np.arange(30), 3))
    tiled = db.query_specs(mats[order].astype(np.int8), labels[order])
    assert np.array_equal(tiled, vals[order])
    assert np.array_equal(db.query_specs(mats[order].tolist(), [ops[i] for i in order]), tiled)


def test_batch_invalid_cells(real30):
    db = nb1s1.NB101(real30, progress=False)
    mats = np.zeros((3, 3, 3), dtype=np.uint8)
    mats[1] = [[0, 1, 0], [0, 0, 1], [0, 0, 0]]  # valid but not in the file
    mats[2] = [[0, 1, 0], [0, 0, 1], [0, 0, 0]]
    ops = [["input", "conv3x3-bn-relu", "output"]] * 2 + [["input", "conv9x9", "output"]]
    hashes, status = db.spec_hashes(mats, ops)
    assert list(status) == ["disconnected", "", "bad_op_label"]
    assert hashes[0] is None and len(hashes[1]) == 32
    vals = db.query_specs(mats, ops)
    assert np.isnan(vals).all()
    with pytest.raises(nb1s1.SpecBatchError) as e:
        db.query_specs(mats, ops, strict=True)
    assert e.value.index == 0 and e.value.code == "disconnected"
    assert list(db.index(["0" * 32, "nothex"])) == [-1, -1]
    with pytest.raises(ValueError, match="epoch budget 12"):
        db.values([0], epochs=12)


def test_pickle_and_dataframe(real30):
    db = nb1s1.NB101(real30, progress=False)
    again = pickle.loads(pickle.dumps(db))
    assert again.hashes() == db.hashes() and os.fspath(again.path) == os.fspath(db.path)
    if os.environ.get("CI", "").lower() == "true":
        import pandas as pd  # scripts/python-test.sh installs it: CI must not skip
    else:
        pd = pytest.importorskip("pandas")
    frame = db.dataframe()
    assert isinstance(frame, pd.DataFrame) and len(frame) == 90
    assert list(frame.columns) == ["hash", "repeat"] + list(nb1s1.KEYS)
    assert frame.groupby("hash").size().eq(3).all()


def test_bad_files_raise_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.tfrecord"):
        api.NASBench(str(tmp_path / "missing.tfrecord"), progress=False)
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x01" * 64)
    with pytest.raises(nb1s1.DataFileError, match="junk.bin"):
        nb1s1.NB101(str(junk))
    assert issubclass(nb1s1.DataFileError, ValueError)


def test_corrupt_tfrecord_names_the_record(fixture_copies, tmp_path):
    data = bytearray(open(fixture_copies["real_30_only108.tfrecord"], "rb").read())
    data[500] ^= 0xFF  # inside the second record's payload: its CRC no longer matches
    bad = tmp_path / "bad.tfrecord"
    bad.write_bytes(bytes(data))
    with pytest.raises(nb1s1.DataFileError, match=r"bad.tfrecord: record 1 at byte 424: payload CRC mismatch"):
        api.NASBench(str(bad), progress=False)
    assert not (tmp_path / "bad.store").exists()
