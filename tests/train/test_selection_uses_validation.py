"""Every choice outside a training run is made on the validation split, never on the test split (issue 18).

Each selection code path is given a validation split and a test split that disagree, and the choice must follow
validation: the sweep's sparsest model within N points and its matched weight-scaling baseline (from the summary
logic up to ``run_sweep`` itself, whose evaluations are replaced by a table keyed on the split they receive), the
Hessian bit allocation of ``analyze hessian`` (the split its traces are measured on), the mixed-precision run
``benchmarks/hessian_bits.py`` names, and a static guard on the benchmarks' code.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
import torch

from qsnn_deploy.nets.checkpoint import load_checkpoint, save_checkpoint
from qsnn_deploy.nets.framed import framed_split
from qsnn_deploy.train import evaluation, trainer
from qsnn_deploy.train.splits import split_validation
from qsnn_deploy.train.sweep import SweepPoint, matched_baseline, run_sweep, summarise
from qsnn_deploy.train.weight_scaling import scale_first_layer

ROOT = Path(__file__).resolve().parents[2]
BASELINE = ROOT / "models" / "digits_speck.pt"


def _pt(method, setting, val, test, val_synops=1.0, test_synops=1.0):
    return SweepPoint(method, setting, test, test_synops, None, val, val_synops)


def test_summary_chooses_on_validation_when_test_disagrees():
    base = _pt("baseline", None, 0.90, 0.90, 1e6, 1.1e6)
    within_on_val = _pt("synop-target", 2e5, 0.895, 0.80, 6e5, 6.6e5)  # within 1 point on validation only
    within_on_test = _pt("synop-target", 1e5, 0.85, 0.90, 4e5, 4.4e5)  # within 1 point on test only
    scaled = [
        _pt("first-layer", 0.7, 0.90, 0.70, 7e5, 7.7e5),  # as accurate as the choice on validation
        _pt("first-layer", 0.5, 0.80, 0.95, 5e5, 5.5e5),  # ... on test only
    ]
    s = summarise(base, [within_on_val, within_on_test], scaled)
    assert s["selected_on"] == "validation"
    assert s["best"]["setting"] == 2e5
    assert s["matched_baseline"]["setting"] == 0.7
    # the chosen model's test figures are what is reported; the validation ones next to them
    assert s["accuracy_drop"] == pytest.approx(0.10) and s["validation_accuracy_drop"] == pytest.approx(0.005)
    assert s["reduction"] == pytest.approx(1.1e6 / 6.6e5) and s["validation_reduction"] == pytest.approx(1e6 / 6e5)
    # the cheapest baseline is the cheapest on validation SynOps, even when test SynOps order them otherwise
    cheap_on_val = _pt("percentile", 99.0, 0.95, 0.95, 1e5, 9e6)
    cheap_on_test = _pt("percentile", 100.0, 0.95, 0.95, 2e5, 1e5)
    assert matched_baseline(within_on_val, [cheap_on_test, cheap_on_val]) is cheap_on_val
    # and the sparsest model within N points is the sparsest on validation SynOps
    sparse_on_val = _pt("synop-target", 3e5, 0.90, 0.90, 1e5, 9e5)
    sparse_on_test = _pt("synop-target", 4e5, 0.90, 0.90, 2e5, 1e5)
    assert summarise(base, [sparse_on_test, sparse_on_val], scaled)["best"]["setting"] == 3e5


def test_a_point_without_validation_is_never_chosen_silently():
    base = _pt("baseline", None, 0.9, 0.9)
    test_only = SweepPoint("synop-target", 1e5, 0.95, 1.0)
    with pytest.raises(ValueError, match="validation"):
        summarise(base, [test_only], [])
    with pytest.raises(ValueError, match="validation"):
        summarise(SweepPoint("baseline", None, 0.9, 1.0), [base], [])


# run_sweep end to end, its training and its evaluations replaced: a model is told apart by its first layer's
# weight scale relative to the baseline (targets are written as scaled copies of it), a split by its samples
RATIO_TARGET = {2e5: 0.6, 1e5: 0.4}
ACCURACY = {  # ratio → (validation, test)
    1.0: (0.90, 0.90),
    0.6: (0.895, 0.80),  # within 1 point of the baseline on validation only
    0.4: (0.85, 0.90),  # within 1 point on test only: the old code's pick
    0.7: (0.90, 0.70),
    0.5: (0.80, 0.95),
}
SEED, LIMIT, FRACTION = 3, 40, 0.25


def _first_layer_sum(model) -> float:
    return float(model.chip_blocks[0].conv.weight.detach().abs().sum())


def test_run_sweep_scores_and_chooses_on_the_runs_validation_split(tmp_path, monkeypatch):
    base_model, payload = load_checkpoint(BASELINE)
    base_sum = _first_layer_sum(base_model)
    time_bins = int(payload["time_bins"])
    train_all = framed_split("digits-dvs", "train", time_bins, progress=False, limit=LIMIT)
    _, val = split_validation(train_all, FRACTION, SEED)  # the split a run with this seed and fraction holds out
    test = framed_split("digits-dvs", "test", time_bins, progress=False, limit=LIMIT)
    assert val is not None and len(val.labels) != len(test.labels)
    seen: list[tuple[str, float]] = []

    def fake_evaluate(model, data, batch_size, device, quantize=None):
        ratio = round(_first_layer_sum(model) / base_sum, 2)
        if torch.equal(data.frames, val.frames) and torch.equal(data.labels, val.labels):
            split, accuracy, synops = "validation", ACCURACY[ratio][0], ratio * 1e6
        elif torch.equal(data.frames, test.frames) and torch.equal(data.labels, test.labels):
            split, accuracy, synops = "test", ACCURACY[ratio][1], ratio * 1.1e6
        else:
            raise AssertionError(f"evaluated on {len(data.labels)} samples: neither the validation nor the test split")
        seen.append((split, ratio))
        return {"accuracy": accuracy, "synops_per_sample": synops, "layer_synops": [], "layer_spikes": []}

    def fake_train(cfg, out, overwrite=False, progress=True, log=None):
        assert (cfg.seed, cfg.val_fraction, cfg.limit) == (SEED, FRACTION, LIMIT)  # the runs hold out that split
        ratio = RATIO_TARGET[cfg.synop_target]
        Path(out).mkdir(parents=True)
        save_checkpoint(Path(out) / "checkpoint.pt", scale_first_layer(base_model, ratio), {"time_bins": time_bins})
        return {"test_accuracy": ACCURACY[ratio][1], "synops_per_sample": ratio * 1.1e6}

    monkeypatch.setattr(evaluation, "evaluate", fake_evaluate)
    monkeypatch.setattr(trainer, "train", fake_train)
    result = run_sweep(
        [2e5, 1e5],
        tmp_path / "sweep",
        baseline=str(BASELINE),
        start="baseline",
        seed=SEED,
        device="cpu",
        first_layer_factors=[0.7, 0.5],
        percentiles=[],
        limit=LIMIT,
        val_fraction=FRACTION,
        progress=False,
        log=lambda *_: None,
    )
    # every model is scored on the validation split; the trained runs' test figures come from their metrics
    assert sorted(r for s, r in seen if s == "validation") == [0.4, 0.5, 0.6, 0.7, 1.0]
    assert sorted(r for s, r in seen if s == "test") == [0.5, 0.7, 1.0]
    s = result["summary"]
    assert s["best"]["setting"] == 2e5 and s["matched_baseline"]["setting"] == 0.7
    assert s["accuracy_drop"] == pytest.approx(0.10)  # the chosen model's test accuracy, reported
    assert result["validation_samples"] == len(val.labels) and result["test_samples"] == len(test.labels)
    table = (tmp_path / "sweep" / "sweep.md").read_text()
    assert "| synop-target-ft | 200000 | 89.50% | 80.00% |" in table  # both accuracies in the table


def test_analyze_hessian_measures_the_traces_for_an_allocation_off_the_test_split(monkeypatch):
    from cli.analyze_cmd import hessian
    from qsnn_deploy.nets import framed
    from qsnn_deploy.train.analyze import analyze_hessian

    asked: list[str] = []

    class Measured(Exception):
        pass

    def record(dataset, split, *args, **kwargs):
        asked.append(split)
        raise Measured

    monkeypatch.setattr(framed, "framed_split", record)
    with pytest.raises(Measured):
        analyze_hessian(BASELINE, budget="4", device="cpu", progress=False, log=lambda *_: None)
    assert asked == ["train"]
    assert next(p for p in hessian.params if p.name == "split").default == "train"


def _benchmark(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "benchmarks" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_hessian_bits_benchmark_names_the_mixed_run_chosen_on_validation():
    choose_mixed = _benchmark("hessian_bits").choose_mixed

    def row(run, val_drop, test_drop, reduction=80.0):
        return {
            "run": run,
            "reduction_vs_fp32_pct": reduction,
            "validation_drop_vs_fp32_points": val_drop,
            "drop_vs_fp32_points": test_drop,
        }

    rows = [row("mixed_4", 1.5, 0.2), row("mixed_3", 0.5, 1.4), row("mixed_2.5", 0.8, 0.1)]
    chosen, accepted = choose_mixed(rows)
    assert chosen["run"] == "mixed_3" and accepted is False  # chosen on validation; its test drop is > 1 point
    chosen, accepted = choose_mixed([rows[0], rows[2]])
    assert chosen["run"] == "mixed_2.5" and accepted is True
    assert choose_mixed([rows[0], row("mixed_8", 0.0, 0.0, reduction=40.0)]) == (None, False)


SELECTION = re.compile(r"\b(max|min|sorted|argmax|argmin)\(")


def test_no_selection_code_ranks_by_test_accuracy():
    """A max/min/sort over test accuracy in the sweep, the allocation or a benchmark is a choice made on the test
    split (a reported range over epochs is written from a list named for what it is, not ranked in place)."""
    files = [ROOT / "qsnn_deploy" / "train" / f"{n}.py" for n in ("sweep", "allocate", "hessian", "analyze")]
    files += sorted((ROOT / "benchmarks").glob("*.py"))
    found = [
        f"{path.relative_to(ROOT)}:{i}: {line.strip()}"
        for path in files
        for i, line in enumerate(path.read_text().splitlines(), 1)
        if SELECTION.search(line) and "test_accuracy" in line
    ]
    assert found == []
