"""The process-group building blocks of data-parallel training (gloo on CPU, two real processes)."""

from __future__ import annotations

import torch

from qsnn_deploy.train.distributed import SINGLE, Group, spawn


def _worker(group: Group, path: str) -> None:
    idx = torch.arange(10)
    part = group.shard(idx)
    total = group.sum([float(part.sum()), len(part)])
    torch.save({"rank": group.rank, "part": part, "total": torch.tensor(total)}, f"{path}.{group.rank}")


def test_two_processes_share_each_batch_and_sum_over_the_group(tmp_path):
    spawn(_worker, 2, torch.device("cpu"), args=(str(tmp_path / "out"),))
    parts = [torch.load(tmp_path / f"out.{r}", weights_only=True) for r in range(2)]
    assert torch.equal(torch.sort(torch.cat([p["part"] for p in parts])).values, torch.arange(10))
    for p in parts:
        assert p["total"].tolist() == [45.0, 10.0]


def test_one_process_is_the_identity():
    idx = torch.arange(5)
    assert SINGLE.writer and torch.equal(SINGLE.shard(idx), idx) and SINGLE.sum([1, 2]) == [1.0, 2.0]
