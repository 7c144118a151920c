import os
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

from nb1s1._native import Store

_Path = Union[str, "os.PathLike[str]"]
# A numpy array, a torch tensor or anything with __array__.
_ArrayLike = Any
_Weights = Union[Sequence[_ArrayLike], Mapping[str, Any]]

class Recorder:
    run_dir: str
    space: int
    def __init__(
        self,
        space: int,
        nb101: Union[_Path, Store],
        run_dir: _Path,
        method: str,
        seed: int,
        settings: Optional[Mapping[str, Any]] = None,
        ties: str = "lower_index",
        original_reference: bool = False,
        epochs: int = 0,
        cache_dir: Optional[_Path] = None,
    ) -> None: ...
    @property
    def next_epoch(self) -> int: ...
    @property
    def complete(self) -> bool: ...
    # The record as written to epochs.jsonl: `epoch`, `architecture`, `nb101_hash`,
    # `valid_errors`/`test_errors` (every repeat at 108 epochs), `valid_regret`/`test_regret`,
    # `other_budgets` ({"4"|"12"|"36": {"valid_errors", "test_errors", "train_seconds"}}, only
    # where the NB-101 file has those budgets), `metrics`, `arch_weights`, `seconds`, ...
    def record(
        self, epoch: int, arch_weights: _Weights, metrics: Optional[Mapping[str, float]] = None
    ) -> Dict[str, Any]: ...
    def finish(self) -> None: ...
    def close(self) -> None: ...
    def __enter__(self) -> "Recorder": ...
    def __exit__(self, *exc: object) -> bool: ...

def import_original(
    dirs: Union[_Path, Sequence[_Path]],
    nb101: Union[_Path, Store],
    out: _Path,
    method: Optional[str] = None,
    seed: Optional[int] = None,
    ties: str = "lower_index",
    original_reference: bool = False,
    cache_dir: Optional[_Path] = None,
) -> List[Dict[str, Any]]: ...
