"""Samples spread over the CPU cores: the compiled kernels release the GIL (``nogil``), so threads run them side
by side, each on its own buffers, and the results come back in sample order, identical to one worker's."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from ..errors import UsageError

T = TypeVar("T")
R = TypeVar("R")


#: the CPU quota of this process's cgroup (v2): "QUOTA PERIOD" in µs, or "max PERIOD" for none
CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


def available_cores(cpu_max: Path = CGROUP_CPU_MAX) -> int:
    """The cores this process may run on: its CPU affinity where the system has one, capped by a cgroup CPU
    quota (containers and CI runners often get a share of a larger machine)."""
    try:
        cores = max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        cores = max(1, os.cpu_count() or 1)
    quota = _cgroup_quota(cpu_max)
    return cores if quota is None else min(cores, quota)


def _cgroup_quota(cpu_max: Path) -> int | None:
    """The whole CPUs a cgroup v2 quota allows (rounded up), or None: no quota, no file, or one not understood."""
    try:
        quota, period = cpu_max.read_text().split()[:2]
        return None if quota == "max" else max(1, math.ceil(int(quota) / int(period)))
    except (OSError, ValueError):
        return None


def resolve_workers(workers: int | None) -> int:
    """``--workers``: None → every available core; else a count ≥ 1."""
    if workers is None:
        return available_cores()
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise UsageError(f"--workers must be a whole number >= 1, got {workers!r}", fix="e.g. --workers 2")
    return workers


class _Counted(Iterable[R]):
    """Results as they arrive, with the number that will come (a progress bar's total)."""

    def __init__(self, results: Iterable[R], n: int):
        self.results, self.n = results, n

    def __iter__(self) -> Iterator[R]:
        return iter(self.results)

    def __len__(self) -> int:
        return self.n


def ordered_map(
    fn: Callable[[T], R],
    items: Sequence[T],
    workers: int,
    bar: Callable[[Iterable[R]], Iterable[R]] | None = None,
) -> list[R]:
    """``[fn(item) for item in items]`` on ``workers`` threads, in the order of ``items`` (``bar`` wraps the
    results as they arrive, for progress)."""
    if workers <= 1 or len(items) <= 1:
        results = _Counted(map(fn, items), len(items))
        return list(bar(results) if bar else results)
    pool = ThreadPoolExecutor(max_workers=min(workers, len(items)))
    try:
        results = _Counted(pool.map(fn, items), len(items))
        return list(bar(results) if bar else results)
    except BaseException:  # Ctrl-C or an error: the samples not started yet are dropped, not run first
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    finally:
        pool.shutdown(wait=True)
