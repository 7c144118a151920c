"""Opening a data file: a store directly, an official tfrecord through a store converted once
(beside it, or in a cache folder when its folder is not writable)."""

import os
import sys

from nb1s1 import _native


def default_cache_dir():
    """``$NB1S1_CACHE_DIR``, else ``$XDG_CACHE_HOME/nb1s1``, else ``~/.cache/nb1s1``."""
    env = os.environ.get("NB1S1_CACHE_DIR")
    if env:
        return env
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "nb1s1")


def store_path_for(tfrecord, cache_dir=None):
    """Where the store converted from ``tfrecord`` lives: in ``cache_dir`` when given, else
    beside the tfrecord when that folder is writable, else in the default cache folder (named
    after the tfrecord's size and mtime so a changed file is converted again)."""
    stem = os.path.splitext(os.path.basename(tfrecord))[0]
    if cache_dir is None:
        folder = os.path.dirname(os.path.abspath(tfrecord))
        if os.access(folder, os.W_OK):
            return os.path.join(folder, stem + ".store")
        cache_dir = default_cache_dir()
    st = os.stat(tfrecord)
    return os.path.join(cache_dir, "%s-%d-%d.store" % (stem, st.st_size, st.st_mtime_ns))


def open_store(path, cache_dir=None, progress=True):
    """Opens ``path`` as a ``_native.Store``; a tfrecord is converted first unless an up-to-date
    store (not older than the tfrecord, readable by this build) already exists."""
    path = os.fspath(path)
    if not _native.is_tfrecord(path):
        return _native.Store(path)
    target = store_path_for(path, None if cache_dir is None else os.fspath(cache_dir))
    if os.path.exists(target) and os.stat(target).st_mtime_ns >= os.stat(path).st_mtime_ns:
        try:
            return _native.Store(target)
        except _native.DataFileError as e:  # e.g. written by an older format version
            print("nb1s1: %s; converting again" % e, file=sys.stderr)
    os.makedirs(os.path.dirname(os.path.abspath(target)), exist_ok=True)
    _native.convert(path, target, progress=progress)
    return _native.Store(target)
