"""One entry for every training method: :func:`train` runs ``config`` with the method it names
(:attr:`~qsnn_deploy.train.config.TrainConfig.method`) from the registry :data:`METHODS`; :func:`resume`
continues an interrupted BPTT run; :func:`train_seeds` trains one run per seed and summarises them."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..nets.zoo import load_spec
from ..outputs import check_writable, write_atomic
from ..progress import Log, ProgressMode
from ..progress import log as default_log
from .ann_synop import run_ann
from .bptt import resume_bptt, train_bptt
from .config import TrainConfig
from .integer_only import run_integer_only
from .local_rules import run_local_rule
from .resume import check_resume_options, read_resume_state
from .seed_stats import seed_stats

#: a method's runner: (config, out, overwrite, progress, log) → the metrics it wrote to ``out/metrics.json``
Runner = Callable[[TrainConfig, Path, bool, ProgressMode, Log], dict[str, Any]]

METHODS: dict[str, Runner] = {
    "bptt": train_bptt,  # surrogate-gradient BPTT, quantisation-aware (.bptt)
    "ann": run_ann,  # floor-ReLU ANN with the SynOp loss, converted to the SNN (.ann_synop)
    "integer-only": run_integer_only,  # integer-only local learning (.integer_only)
    "local-rule": run_local_rule,  # DECOLLE, ELL, BELL, FELL (.local_rules)
}


def train(
    config: TrainConfig, out: str | Path, overwrite: bool = False, progress: ProgressMode = True, log: Log = default_log
) -> dict[str, Any]:
    """Train ``config`` into the run folder ``out`` (replacing a non-empty one only with ``overwrite``); returns the
    metrics written to ``metrics.json``. ``progress``: a mode of :mod:`qsnn_deploy.progress`; ``log``: the lines."""
    return METHODS[config.method](config, Path(out), overwrite, progress, log)


def resume(
    path: str | Path,
    given: Mapping[str, Any] | None = None,
    progress: ProgressMode = True,
    log: Log = default_log,
) -> dict[str, Any]:
    """Continue the interrupted run ``OUT`` (or ``OUT.partial``) from its last finished epoch with the options it
    was started with; ``given``: options the caller was given too (by field name, and ``out``, ``seeds``,
    ``overwrite``), refused where they disagree. The result equals an uninterrupted run's."""
    out, partial, state = read_resume_state(path)
    check_resume_options(path, out, state["config"], given or {})
    return resume_bptt(out, partial, state, progress, log)


def train_seeds(
    config: TrainConfig,
    seeds: list[int],
    out: str | Path,
    overwrite: bool = False,
    progress: ProgressMode = True,
    log: Log = default_log,
) -> dict[str, Any]:
    """One run per seed into ``OUT/seed_S``, then ``OUT/summary.json`` with mean ± std (sample std, ddof 1) of
    test accuracy, SynOps per sample and validation accuracy (None without a validation split). Returns the
    summary."""
    if config.method != "bptt":
        raise UsageError(f"{config.method_flag} does not take --seeds", fix="drop --seeds")
    out = Path(out)
    config.resolve(load_spec(config.model))  # bad options fail before the first run
    check_writable(out, overwrite)
    out.mkdir(parents=True, exist_ok=True)
    runs: list[dict[str, Any]] = []
    for seed in seeds:
        log(f"--- seed {seed} ({len(runs) + 1}/{len(seeds)}) ---")
        metrics = train(
            replace(config, seed=seed), out / f"seed_{seed}", overwrite=overwrite, progress=progress, log=log
        )
        runs.append(
            {
                "seed": seed,
                "out": f"seed_{seed}",
                "test_accuracy": metrics["test_accuracy"],
                "synops_per_sample": metrics["synops_per_sample"],
                "validation_accuracy": metrics["validation_accuracy"],
                "selected_epoch": metrics["selected_epoch"],
            }
        )

    def stats(key: str) -> dict[str, float]:
        s = seed_stats([r[key] for r in runs])
        return {"mean": s["mean"], "std": s["std"]}

    summary = {
        "seeds": seeds,
        "config": config.record() | {"seed": None},
        "runs": runs,
        "test_accuracy": stats("test_accuracy"),
        "synops_per_sample": stats("synops_per_sample"),
        "validation_accuracy": None if runs[0]["validation_accuracy"] is None else stats("validation_accuracy"),
    }
    write_atomic(out / "summary.json", json.dumps(summary, indent=2))
    return summary
