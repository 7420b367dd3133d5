"""Weight bits per layer in a BPTT run: the label of a mixed-precision model (``int8/4/4/8``), the memory its
weights take, and ``--bits auto`` (HAWQ-v2, as in the DECOLLE code base): after :func:`warmup_epochs` at the
model's widths, Hessian traces on a training subset choose the bits per layer under ``--bit-budget``
(:mod:`.allocate`, :mod:`.hessian`), recorded in ``hessian.json`` and ``hessian.png``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..nets.framed import FramedSplit
from ..nets.network import SpikingCNN
from ..nets.zoo import ModelSpec
from ..progress import Log, ProgressMode
from .allocate import apply_bits, auto_bits, weight_memory_bits
from .config import ResolvedConfig

if TYPE_CHECKING:
    from .runs import RunFolder

HESSIAN_SAMPLES = 256  # training samples the Hessian traces of --bits auto are estimated on
HESSIAN_PROBES = 20  # Rademacher probes per layer


def bits_label(spec: ModelSpec) -> str:
    """'int8', or the per-layer widths of a mixed-precision model ('int8/4/4/8')."""
    bits = [layer.weight_bits for layer in spec.layers]
    return f"int{bits[0]}" if len(set(bits)) == 1 else "int" + "/".join(map(str, bits))


def weight_memory(model: SpikingCNN) -> int:
    """Bits the model's weights take at their per-layer widths (biases at the same width)."""
    sizes = [sum(p.numel() for p in block.conv.parameters()) for block in model.chip_blocks]
    return weight_memory_bits(sizes, [block.weight_bits for block in model.chip_blocks])


def warmup_epochs(cfg: ResolvedConfig) -> int:
    """Epochs trained at the model's widths before ``--bits auto`` allocates (0 when starting from ``--init``)."""
    if cfg.bits != "auto" or cfg.init is not None:
        return 0
    return max(1, cfg.epochs // 3)


def allocate_auto_bits(
    model: SpikingCNN,
    data: FramedSplit,
    cfg: ResolvedConfig,
    folder: RunFolder | None,
    progress: ProgressMode,
    log: Log,
) -> dict[str, Any]:
    """``--bits auto``: Hessian traces on a training subset, bits per layer under ``cfg.bit_budget``, applied to
    ``model`` (and its spec); ``folder`` gets ``hessian.json`` and ``hessian.png`` (None: a data-parallel process
    other than the writer). Returns the record."""
    assert cfg.bit_budget is not None  # check_config: --bits auto goes with --bit-budget
    log(
        f"--bits auto: Hessian traces on {min(HESSIAN_SAMPLES, len(data.labels))} training samples, "
        f"{HESSIAN_PROBES} probes, budget {cfg.bit_budget}"
    )
    allocation, hessian = auto_bits(
        model,
        data,
        cfg.bit_budget,
        samples=HESSIAN_SAMPLES,
        n_iter=HESSIAN_PROBES,
        batch_size=cfg.batch_size,
        seed=cfg.seed,
        progress=progress,
    )
    apply_bits(model, allocation)
    record = {"hessian": hessian.to_dict(), "allocation": allocation.to_dict()}
    if folder is not None:
        folder.hessian(record, hessian, allocation.by_layer)
    log(
        "bits per layer: "
        + ", ".join(f"{n} {b}" for n, b in allocation.by_layer.items())
        + f" (ranking by trace per parameter: {' > '.join(hessian.ranking)}; {allocation.avg_bits:.2f} bits on "
        f"average, {allocation.reduction_pct:.1f}% below FP32)"
    )
    return record
