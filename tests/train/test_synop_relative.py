"""`--synop-target Kx` (issue 18): K times fewer SynOps than --init RUN's, with the recipe's defaults (each an
option), an annealed target, and the kept epoch chosen on validation among those that meet the goal."""

import json

import pytest
import torch

from qsnn_deploy.errors import InputError, UsageError
from qsnn_deploy.nets.zoo import load_spec
from qsnn_deploy.train import TrainConfig, train
from qsnn_deploy.train.bptt import synop_target_at
from qsnn_deploy.train.checks import parse_synop_target
from qsnn_deploy.train.early_stopping import EarlyStopping

SPEC = load_spec("digits_speck")


def _run(tmp_path, synops=1e6):
    run = tmp_path / "base"
    run.mkdir()
    (run / "metrics.json").write_text(json.dumps({"synops_per_sample": synops}))
    return str(run)


def test_parse_absolute_and_relative_targets():
    assert parse_synop_target(None) == (None, None)
    assert parse_synop_target(3e5) == ("absolute", 3e5)
    assert parse_synop_target("3e5") == ("absolute", 3e5)
    assert parse_synop_target("5x") == ("relative", 5.0) and parse_synop_target(" 2.5X ") == ("relative", 2.5)
    for bad, match in [("0x", "K in Kx must be > 1"), ("1x", "K in Kx must be > 1"), ("-3x", "must be > 1")]:
        with pytest.raises(UsageError, match=match):
            parse_synop_target(bad)
    for bad in ("abc", "5xx", "x", "five"):
        with pytest.raises(UsageError, match="neither SynOps per sample nor a factor"):
            parse_synop_target(bad)
    with pytest.raises(UsageError, match="must be > 0"):
        parse_synop_target("0")


def test_relative_target_needs_init_and_bptt(tmp_path):
    with pytest.raises(UsageError, match="there is no --init RUN") as e:
        TrainConfig(synop_target="5x")
    assert "--init RUN" in e.value.fix
    with pytest.raises(UsageError, match="--ann takes an absolute one"):
        TrainConfig(synop_target="5x", init="r", ann=True)
    with pytest.raises(UsageError, match="cannot be combined"):
        TrainConfig(synop_target="5x", init="r", synop_penalty=1e-7)
    with pytest.raises(UsageError, match="shape the target of --synop-target"):
        TrainConfig(synop_anneal=0.5)
    with pytest.raises(UsageError, match="no --synop-start or --init"):
        TrainConfig(synop_target=3e5, synop_anneal=0.5).resolve(SPEC)
    with pytest.raises(UsageError, match="there is none at"):
        TrainConfig(synop_target="5x", init=str(tmp_path)).resolve(SPEC)
    (tmp_path / "metrics.json").write_text('{"synops_per_sample": "many"}')
    with pytest.raises(InputError, match="no positive 'synops_per_sample'"):
        TrainConfig(synop_target="5x", init=str(tmp_path)).resolve(SPEC)


def test_relative_target_resolves_to_the_recipe(tmp_path):
    run = _run(tmp_path)
    cfg = TrainConfig(synop_target="5x", init=run).resolve(SPEC)
    assert cfg.synop_goal == pytest.approx(2e5) and cfg.synop_target == pytest.approx(0.5 * 2e5)
    assert (cfg.synop_start, cfg.synop_anneal, cfg.distill, cfg.synop_weights) == (1e6, 0.5, run, "1,3,1,1")
    assert (cfg.shift_px, cfg.epochs, cfg.lr, cfg.val_fraction, cfg.average_weights) == (2, 80, 1e-3, 0.1, 0.5)
    # each default is an option
    own = TrainConfig(
        synop_target="4x",
        init=run,
        distill="none",
        synop_weights="1",
        shift_px=0,
        epochs=5,
        lr=2e-3,
        synop_anneal=0.0,
        synop_goal=3e5,
        average_weights=0,
    ).resolve(SPEC)
    assert own.synop_goal == 3e5 and own.synop_target == pytest.approx(1.5e5) and own.distill is None
    assert (own.synop_weights, own.shift_px, own.epochs, own.lr, own.synop_anneal) == ("1", 0, 5, 2e-3, 0.0)
    assert own.average_weights == 0
    # an absolute target keeps its old meaning: no goal, no anneal, no recipe
    plain = TrainConfig(synop_target="3e5", init=run).resolve(SPEC)
    assert plain.synop_target == 3e5 and plain.synop_goal is None and not plain.synop_anneal
    assert plain.distill is None and plain.shift_px == 0 and plain.epochs == SPEC.defaults["epochs"]
    assert not plain.average_weights


def test_annealed_target_is_geometric_then_held(tmp_path):
    cfg = TrainConfig(synop_target="5x", init=_run(tmp_path), epochs=10).resolve(SPEC)
    targets = [synop_target_at(cfg, e) for e in range(1, 11)]
    assert targets[0] == pytest.approx(1e6 * (0.1 ** (1 / 5)))
    assert all(a > b for a, b in zip(targets[:5], targets[1:5], strict=False))
    assert targets[4:] == pytest.approx([1e5] * 6)  # reached at half the epochs, then held
    assert synop_target_at(TrainConfig(synop_target=3e5).resolve(SPEC), 1) == 3e5


def test_kept_epoch_meets_the_goal_with_the_best_validation_accuracy():
    model = torch.nn.Linear(1, 1)
    es = EarlyStopping(None, goal=2e5)  # meets: ≤ 0.98 × 2e5 = 1.96e5
    es.update(1, 0.99, model, 5e5)  # most accurate, too many SynOps: kept only while nothing meets the goal
    assert es.best_epoch == 1
    es.update(2, 0.95, model, 3e5)  # fewer SynOps, still above the goal
    assert es.best_epoch == 2
    es.update(3, 0.70, model, 1.9e5)
    es.update(4, 0.80, model, 1.95e5)
    es.update(5, 0.97, model, 1.97e5)  # within 2 % of the goal: not kept
    es.update(6, 0.80, model, 1.5e5)  # tie on accuracy: the later epoch
    assert es.best_epoch == 6 and es.best_val == 0.80 and es.meets_goal(1.96e5) and not es.meets_goal(1.97e5)
    again = EarlyStopping(None, goal=2e5)
    again.restore(es.state())
    assert again.best_key == es.best_key and again.best_epoch == 6


def test_relative_run_end_to_end(tmp_path):
    quiet = dict(progress=False, log=lambda msg: None)
    tiny = dict(limit=48, time_bins=4, batch_size=16)
    base = train(TrainConfig(epochs=1, **tiny), tmp_path / "base", **quiet)
    m = train(TrainConfig(synop_target="5x", init=str(tmp_path / "base"), epochs=2, **tiny), tmp_path / "ft", **quiet)
    base_val = base["history"][base["selected_epoch"] - 1]["val_synops_per_sample"]  # the goal's split
    assert m["synop_goal"] == pytest.approx(base_val / 5) and m["synop_control"] == 1.0
    assert m["synop_start"] == base_val and isinstance(m["synop_goal_met"], bool)
    # epoch 1 holds the end of the annealed target (half of 2 epochs), epoch 2 is steered by epoch 1's SynOps
    first, second = (h["synop_target"] for h in m["history"])
    assert first == pytest.approx(0.5 * m["synop_goal"])
    steer = min(1.25, max(0.8, 0.97 * m["synop_goal"] / m["history"][0]["val_synops_per_sample"]))
    assert second == pytest.approx(first * steer)
    kept = m["history"][m["selected_epoch"] - 1]
    assert m["validation_accuracy"] == kept["val_accuracy"]
    assert m["synop_goal_met"] == (kept["val_synops_per_sample"] <= 0.98 * m["synop_goal"])
    config = (tmp_path / "ft" / "config.yaml").read_text()
    assert f"distill: {tmp_path / 'base'}" in config and "shift_px: 2" in config and "synop_weights: 1,3,1,1" in config


def test_relative_target_counts_from_the_kept_epochs_validation_synops(tmp_path):
    run = tmp_path / "base"
    run.mkdir()
    # the kept epoch found by its number (a resumed or early-stopped history is still in epoch order, but say so)
    history = [{"epoch": e, "val_synops_per_sample": v} for e, v in ((1, 9e5), (2, 1.2e6), (3, 8e5))]
    record = {"synops_per_sample": 1e6, "selected_epoch": 2, "history": history}
    (run / "metrics.json").write_text(json.dumps(record))
    cfg = TrainConfig(synop_target="4x", init=str(run)).resolve(SPEC)
    assert cfg.synop_start == 1.2e6 and cfg.synop_goal == pytest.approx(3e5)
    record["history"] = [{"epoch": e} for e in (1, 2, 3)]  # no validation split in RUN: its test split figure
    (run / "metrics.json").write_text(json.dumps(record))
    assert TrainConfig(synop_target="4x", init=str(run)).resolve(SPEC).synop_goal == pytest.approx(2.5e5)
    # the kept model's own figure when RUN records it (a mean of epochs' weights has no epoch of its own)
    (run / "metrics.json").write_text(json.dumps(record | {"validation_synops_per_sample": 6e5}))
    assert TrainConfig(synop_target="4x", init=str(run)).resolve(SPEC).synop_goal == pytest.approx(1.5e5)
