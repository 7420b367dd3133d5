"""The figures of a run: the training curve (loss, accuracy and SynOps per epoch) and the per-layer Hessian
traces of ``--bits auto`` (matplotlib, Agg backend). They draw to the path they are given; the run writer
(:mod:`.runs`) gives them a temporary name that is renamed once the figure is complete."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .hessian import HessianResult


def plot_training_curves(
    history: list[dict],
    path: Path,
    loss_label: str = "training loss",
    accuracy_label: str = "accuracy (%)",
    accuracy_title: str = "accuracy",
    synops_label: str | None = None,
) -> None:
    """Loss and accuracy (train, validation when present, test) per epoch; a SynOps panel with ``synops_label``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ep = [h["epoch"] for h in history]
    fig, ax = plt.subplots(1, 3 if synops_label else 2, figsize=(12 if synops_label else 9, 3.4))
    ax[0].plot(ep, [h["loss"] for h in history], marker="o")
    ax[0].set(xlabel="epoch", ylabel=loss_label, title="loss")
    ax[1].plot(ep, [100 * h["train_accuracy"] for h in history], marker="o", label="train")
    if any("val_accuracy" in h for h in history):
        ax[1].plot(ep, [100 * h["val_accuracy"] for h in history], marker="o", label="validation")
    ax[1].plot(ep, [100 * h["test_accuracy"] for h in history], marker="o", label="test")
    ax[1].set(xlabel="epoch", ylabel=accuracy_label, title=accuracy_title)
    ax[1].legend()
    if synops_label:
        ax[2].plot(ep, [h["synops_per_sample"] for h in history], marker="o")
        ax[2].set(xlabel="epoch", ylabel=synops_label, title="SynOps")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_traces(
    result: HessianResult,
    path: str | Path,
    bits: Mapping[str, int] | None = None,
    title: str | None = None,
    fmt: str | None = None,
) -> None:
    """Bar chart of trace per parameter per layer (log scale, ± the larger standard error), annotated with
    ``bits`` per layer when given (e.g. an allocation). ``fmt``: image format when the name has none."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    values = np.asarray(result.trace_per_param, dtype=float)
    between = result.stderr_batches or (None,) * len(result.names)
    errors = np.asarray(
        [
            max(0.0 if s is None else s, 0.0 if sb is None else sb / n)  # the larger error
            for s, sb, n in zip(result.stderr_per_param, between, result.n_params)
        ],
        dtype=float,
    )
    x = np.arange(len(values))
    fig, ax = plt.subplots(figsize=(max(4.5, 1.1 * len(values) + 2), 3.6))
    colors = ["tab:blue" if v > 0 else "tab:red" for v in values]
    ax.bar(x, values, 0.6, yerr=errors, capsize=4, color=colors, alpha=0.85, ecolor="black")
    positive = np.abs(values[values != 0])
    if np.all(values > 0):
        ax.set_yscale("log")
    elif positive.size:  # a negative (or zero) trace: symmetric log keeps the sign visible
        ax.set_yscale("symlog", linthresh=float(positive.min()) / 2)
    if bits:
        for xi, name, v, e in zip(x, result.names, values, errors):
            if name in bits:
                ax.annotate(
                    f"{bits[name]} bit",
                    (xi, max(v, 0) + e),
                    textcoords="offset points",
                    xytext=(0, 4),
                    ha="center",
                    fontsize=9,
                    fontweight="bold",
                )
        ax.margins(y=0.25)
    ax.set_xticks(x, [f"{n}\n{p:,} w" for n, p in zip(result.names, result.n_params)])
    ax.set_ylabel("Hessian trace / parameter")
    ax.set_title(
        title or f"Layer sensitivity ({result.iterations} probes, {result.samples} samples; red: negative)", fontsize=10
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110, format=fmt)
    plt.close(fig)
