"""nb1s1 from Python: NAS-Bench-101 without TensorFlow, answered by the Rust engine.

- ``from nasbench import api`` is a drop-in replacement for google-research/nasbench.
- ``nb1s1.NB101`` is the native API: batch queries of many specs or hashes to numpy arrays;
  ``nb1s1.SearchSpace`` and ``nb1s1.run_optimizer`` the spaces and black-box optimizers.
- ``nb1s1.Recorder`` benchmarks a one-shot method written anywhere (PyTorch included) from its
  architecture weights; ``nb1s1.import_original`` imports the original code's run folders.
"""

from nb1s1._native import AVAILABLE_OPS, DataFileError, Store, __version__, convert, generate
from nb1s1._open import default_cache_dir, open_store
from nb1s1.spaces import SearchSpace, run_optimizer, trajectory_frame
from nb1s1.results import read_results, read_run
from nb1s1.recorder import Recorder, import_original
from nb1s1.nb101 import KEYS, NB101, SpecBatchError, generate_from_specs, spec_hashes

__all__ = [
    "AVAILABLE_OPS",
    "DataFileError",
    "KEYS",
    "NB101",
    "Recorder",
    "SearchSpace",
    "SpecBatchError",
    "Store",
    "__version__",
    "convert",
    "default_cache_dir",
    "generate",
    "generate_from_specs",
    "import_original",
    "open_store",
    "read_results",
    "read_run",
    "run_optimizer",
    "spec_hashes",
    "trajectory_frame",
]
