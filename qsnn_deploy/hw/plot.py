"""Plot of an estimate: memory per layer against its core, and SynOps per layer (matplotlib, lazy)."""

from __future__ import annotations

from pathlib import Path

from .estimator import Estimate
from .profile import Profile


def plot_estimate(est: Estimate, profile: Profile, path: str | Path) -> Path:
    """Bars of kernel/neuron memory as a share of the assigned core, and SynOps per sample."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cores = {c.index: c for c in profile.cores}
    names = [row.name for row in est.layers]
    kern, neur = [], []
    for row in est.layers:
        core = cores.get(row.core) if row.core is not None else max(profile.cores, key=lambda c: c.kernel_memory)
        kern.append(100 * row.kernel_memory / core.kernel_memory)
        neur.append(100 * row.neuron_memory / core.neuron_memory)
    fig, ax = plt.subplots(1, 2, figsize=(10, 3.6))
    x = range(len(names))
    ax[0].bar([i - 0.2 for i in x], kern, 0.4, label="kernel")
    ax[0].bar([i + 0.2 for i in x], neur, 0.4, label="neuron")
    ax[0].axhline(100, color="red", lw=1, ls="--")
    ax[0].set_xticks(list(x), [f"{n}\n(core {r.core})" for n, r in zip(names, est.layers)])
    ax[0].set(ylabel="% of the core's memory", title=f"memory on {est.target} ({'fits' if est.fits else 'does NOT fit'})")
    ax[0].legend()
    syn = [row.synops or 0 for row in est.layers]
    ax[1].bar(list(x), syn, color="tab:green")
    ax[1].set_xticks(list(x), names)
    ax[1].set(ylabel="SynOps per sample", title="activity")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
