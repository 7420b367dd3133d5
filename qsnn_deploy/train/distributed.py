"""Data-parallel training over several processes: torch DistributedDataParallel, gloo on CPU, NCCL on GPUs.

Every process sees the same seeded sample order and takes its share of each global batch
(``idx[rank::world]``), so a run with ``N`` processes and batch ``B`` follows the same global batches as
one process with batch ``B``; DDP averages the gradients. Only rank 0 writes the run folder.
``train --nproc N`` starts the processes itself; under ``torchrun`` the environment says who is who.
"""

from __future__ import annotations

import gc
import os
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from ..errors import UsageError


@dataclass(frozen=True)
class Group:
    """This process's place in the training group (``world == 1``: no distribution)."""

    rank: int = 0
    world: int = 1

    @property
    def writer(self) -> bool:
        """Whether this process writes files and logs."""
        return self.rank == 0

    def shard(self, idx: torch.Tensor) -> torch.Tensor:
        """This process's part of a global batch of sample indices."""
        return idx[self.rank :: self.world] if self.world > 1 else idx

    def sum(self, values: Sequence[float]) -> list[float]:
        """Element-wise sum of ``values`` over all processes (the values themselves with one process)."""
        if self.world == 1:
            return [float(v) for v in values]
        t = torch.tensor([float(v) for v in values], dtype=torch.float64)
        if dist.get_backend() == "nccl":
            t = t.cuda()
        dist.all_reduce(t)
        return t.cpu().tolist()

    def mean(self, values: Sequence[float]) -> list[float]:
        """Element-wise mean of ``values`` over all processes: one figure every process acts on alike."""
        return [v / self.world for v in self.sum(values)]


SINGLE = Group()


def backend_for(device: torch.device) -> str:
    return "nccl" if device.type == "cuda" else "gloo"


def process_device(device: torch.device, group: Group) -> torch.device:
    """One GPU per process on CUDA (``cuda:rank``, modulo the GPUs there are); the CPU otherwise."""
    if device.type != "cuda" or group.world == 1:
        return device
    return torch.device("cuda", group.rank % torch.cuda.device_count())


def check_nproc(nproc: int, device: torch.device) -> None:
    if nproc < 1:
        raise UsageError(f"--nproc must be >= 1, got {nproc}", fix="e.g. --nproc 2")
    if device.type == "cuda" and nproc > torch.cuda.device_count():
        raise UsageError(
            f"--nproc {nproc} asks for more processes than the {torch.cuda.device_count()} GPU(s) here",
            fix=f"use --nproc {torch.cuda.device_count()} or fewer",
        )
    if not dist.is_available():
        raise UsageError("this torch build has no torch.distributed", fix="train with --nproc 1")


def free_port() -> int:
    """A TCP port on localhost that is free now (for the process group's rendezvous)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def from_environment() -> Group | None:
    """The group ``torchrun`` describes in the environment (``RANK``, ``WORLD_SIZE``), or None."""
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        return None
    return Group(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]))


def join(group: Group, backend: str, port: int | None = None) -> None:
    """Join the process group (rendezvous on localhost ``port``, or from the environment under torchrun)."""
    if group.world == 1 or dist.is_initialized():
        return
    init = "env://" if port is None else f"tcp://127.0.0.1:{port}"
    dist.init_process_group(backend, init_method=init, rank=group.rank, world_size=group.world)


def leave() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def barrier(group: Group) -> None:
    if group.world > 1:
        dist.barrier()


def wrap(model: torch.nn.Module, group: Group, device: torch.device) -> torch.nn.Module:
    """``model`` in DistributedDataParallel when there are several processes; itself otherwise."""
    if group.world == 1:
        return model
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


def _entry(rank: int, world: int, port: int, backend: str, threads: int, fn: Callable, args: tuple) -> None:
    torch.set_num_threads(threads)
    group = Group(rank, world)
    join(group, backend, port)
    try:
        fn(group, *args)
        # Tear down together, once the run's objects are gone: a rank that destroyed the group while its peer was
        # still busy, or with a DDP reducer still alive, was aborted now and then ("terminate called without an
        # active exception", SIGABRT, seen once in a fresh-clone test run). A rank that raised skips this; the
        # others are then ended by torch.multiprocessing.spawn.
        gc.collect()
        barrier(group)
    finally:
        leave()


def spawn(fn: Callable[..., Any], nproc: int, device: torch.device, args: tuple = ()) -> None:
    """Run ``fn(group, *args)`` in ``nproc`` fresh processes joined in one group; returns when all have ended
    (an exception in any of them is raised here). CPU threads are shared out between the processes."""
    import torch.multiprocessing as mp

    threads = max(1, (os.cpu_count() or 1) // nproc)
    mp.spawn(_entry, args=(nproc, free_port(), backend_for(device), threads, fn, args), nprocs=nproc, join=True)
