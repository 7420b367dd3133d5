"""Bit allocation: exact (vs brute force), within budget, monotone, sensible; budget parsing; QAT-consistent
perturbations."""

import itertools

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from qsnn_deploy.errors import UsageError
from qsnn_deploy.train.allocate import (
    DEFAULT_CHOICES,
    Allocation,
    Budget,
    allocate_bits,
    apply_bits,
    auto_bits,
    check_budget,
    parse_bit_budget,
    reduction_vs_fp32,
    weight_memory_bits,
    weight_perturbations,
)

# --- budgets ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, avg, total",
    [
        ("4", 4.0, None),
        ("4.5", 4.5, None),
        (" 2 ", 2.0, None),
        ("8", 8.0, None),
        ("12kB", None, 96_000),
        ("12KB", None, 96_000),
        ("12KiB", None, 98_304),
        ("96kbit", None, 96_000),
        ("1500B", None, 12_000),
        ("1500 B", None, 12_000),
        ("0.5MiB", None, 4 * 1024**2),
        ("1e3bit", None, 1000),
        ("2Mbit", None, 2e6),
    ],
)
def test_parse_bit_budget(text, avg, total):
    b = parse_bit_budget(text)
    assert b.avg_bits == avg and b.total_bits == total
    assert str(b)


@pytest.mark.parametrize(
    "text", ["", "abc", "-4", "0", "0kB", "12kb", "12 b", "5 parsecs", "nan", "inf", "4..5", "40", "1e3", "kB"]
)
def test_parse_bit_budget_refuses(text):
    with pytest.raises(UsageError) as err:
        parse_bit_budget(text)
    assert "Fix:" in err.value.message


def test_budget_limit_and_number_input():
    assert parse_bit_budget(4.5).limit(100) == 450
    assert parse_bit_budget("1500B").limit(10**6) == 12_000
    b = Budget(total_bits=80.0)
    assert parse_bit_budget(b) is b
    with pytest.raises(ValueError):
        Budget()


def test_weight_memory_and_reduction_match_seed0():
    """Seed 0's numbers: [8, 8, 16] bits on its three conv layers is 16.11 Mbit, 58.4 % below FP32."""
    n = [2 * 64 * 49, 64 * 128 * 49, 128 * 128 * 49]
    assert weight_memory_bits(n, [8, 8, 16]) == 16_106_496
    assert reduction_vs_fp32(n, [8, 8, 16]) == pytest.approx(58.4, abs=0.05)
    assert reduction_vs_fp32(n, [32, 32, 32]) == 0
    with pytest.raises(ValueError):
        weight_memory_bits([1, 2], [8])


# --- the allocator ---------------------------------------------------------------------------------


def _brute_force(n, sens, pert, limit, choices):
    best = None
    for bits in itertools.product(choices, repeat=len(n)):
        if sum(a * b for a, b in zip(n, bits)) <= limit:
            obj = sum(max(s, 0.0) * p[b] for s, p, b in zip(sens, pert, bits))
            best = obj if best is None else min(best, obj)
    return best


@st.composite
def problems(draw, max_layers=4):
    layers = draw(st.integers(1, max_layers))
    choices = tuple(sorted(draw(st.sets(st.integers(2, 8), min_size=1, max_size=5))))
    n = draw(st.lists(st.integers(1, 60), min_size=layers, max_size=layers))
    sens = draw(st.lists(st.floats(-1, 10, allow_nan=False), min_size=layers, max_size=layers))
    pert = []
    for _ in range(layers):  # a strictly decreasing error curve per layer
        steps = draw(st.lists(st.floats(0.01, 5), min_size=len(choices), max_size=len(choices)))
        total = sum(steps)
        curve, acc = {}, 0.0
        for b, step in zip(choices, steps):
            curve[b] = total - acc
            acc += step
        pert.append(curve)
    avg = draw(st.floats(choices[0], choices[-1] + 0.5))
    return n, sens, pert, avg, choices


def _alloc(n, sens, pert, budget, choices):
    names = [f"l{i}" for i in range(len(n))]
    return allocate_bits(names, n, sens, dict(zip(names, pert)), budget, choices)


@settings(max_examples=150, deadline=None)
@given(problems())
def test_allocation_is_exact_and_within_budget(problem):
    n, sens, pert, avg, choices = problem
    alloc = _alloc(n, sens, pert, avg, choices)
    assert alloc.size_bits <= avg * sum(n) + 1e-9
    assert set(alloc.bits) <= set(choices)
    assert alloc.objective == pytest.approx(_brute_force(n, sens, pert, avg * sum(n), choices), rel=1e-9, abs=1e-12)
    assert alloc.objective == pytest.approx(sum(s * p for s, p in zip(alloc.sensitivity, alloc.perturbation)))


@settings(max_examples=100, deadline=None)
@given(problems(), st.floats(0, 3))
def test_larger_budget_never_gives_a_worse_objective(problem, extra):
    n, sens, pert, avg, choices = problem
    small = _alloc(n, sens, pert, avg, choices)
    large = _alloc(n, sens, pert, avg + extra, choices)
    assert large.objective <= small.objective * (1 + 1e-12) + 1e-15
    total = _alloc(n, sens, pert, Budget(total_bits=avg * sum(n)), choices)  # the same budget as a size
    assert total.objective == pytest.approx(small.objective, rel=1e-12, abs=1e-15)


@settings(max_examples=100, deadline=None)
@given(st.integers(2, 5), st.integers(1, 50), st.lists(st.floats(0, 10), min_size=5, max_size=5), st.floats(2, 8))
def test_equal_layers_more_sensitive_gets_at_least_as_many_bits(layers, size, sens, avg):
    """Same size and same error curve: bits never decrease with trace per parameter."""
    sens = sens[:layers]
    curve = {b: 4.0**-b for b in DEFAULT_CHOICES}
    alloc = _alloc([size] * layers, sens, [curve] * layers, avg, DEFAULT_CHOICES)
    for i, j in itertools.permutations(range(layers), 2):
        if sens[i] > sens[j] * (1 + 1e-9) + 1e-12:
            assert alloc.bits[i] >= alloc.bits[j]


def test_budget_below_the_minimum_is_a_usage_error():
    pert = {"a": {b: 1.0 / b for b in DEFAULT_CHOICES}, "b": {b: 1.0 / b for b in DEFAULT_CHOICES}}
    with pytest.raises(UsageError, match="below the smallest possible") as err:
        allocate_bits(["a", "b"], [100, 100], [1.0, 1.0], pert, "1.5")
    assert "at least 2 bits/weight or 50B" in err.value.message
    with pytest.raises(UsageError):
        allocate_bits(["a", "b"], [100, 100], [1.0, 1.0], pert, "399bit")
    ok = allocate_bits(["a", "b"], [100, 100], [1.0, 1.0], pert, "400bit")
    assert ok.bits == (2, 2)
    assert check_budget([100, 100], "50B") == Budget(total_bits=400.0, text="50 B")
    with pytest.raises(UsageError):
        check_budget([100, 100], "49B")


def test_allocation_basics_and_dict():
    pert = {"big": {b: 2.0**-b for b in DEFAULT_CHOICES}, "small": {b: 2.0**-b for b in DEFAULT_CHOICES}}
    alloc = allocate_bits(["big", "small"], [1000, 10], [1e-3, 5.0], pert, "8")
    assert alloc.bits == (8, 8) and alloc.avg_bits == 8 and alloc.reduction_pct == 75
    negative = allocate_bits(["big", "small"], [1000, 10], [1e-3, -5.0], pert, "2.05")
    assert negative.sensitivity == (1e-3, 0.0) and negative.bits == (2, 2)  # counts as zero; smaller wins ties
    tight = allocate_bits(["big", "small"], [1000, 10], [1e-3, 5.0], pert, "2.05")
    d = tight.to_dict()
    assert d["bits"] == {"big": 2, "small": 7} and d["size_bits"] <= 2.05 * 1010
    assert isinstance(tight, Allocation) and d["fp32_bits"] == 32 * 1010
    with pytest.raises(ValueError, match="no perturbation"):
        allocate_bits(["big"], [10], [1.0], {"big": {8: 0.0}}, "8")
    with pytest.raises(ValueError):
        allocate_bits(["a", "a"], [1, 1], [1.0, 1.0], {"a": {b: 0.0 for b in DEFAULT_CHOICES}}, "8")


# --- model helpers --------------------------------------------------------------------------------


def _tiny_model(quantize=True):
    from qsnn_deploy.nets.network import SpikingCNN
    from qsnn_deploy.nets.zoo import spec_from_dict

    torch.manual_seed(0)
    spec = spec_from_dict(
        {
            "name": "tiny",
            "input_shape": [1, 6, 6],
            "n_classes": 3,
            "layers": [
                {"type": "conv", "name": "c1", "out_channels": 2, "kernel_size": 3},
                {"type": "linear", "name": "fc", "out_features": 3, "weight_bits": 6},
            ],
        }
    )
    return SpikingCNN(spec, quantize=quantize)


def test_weight_perturbations_follow_qat_and_leave_the_model_alone():
    from qsnn_deploy.quant.fake import chip_scale_t

    model = _tiny_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    pert = weight_perturbations(model)
    assert [b.weight_bits for b in model.blocks] == [8, 6]
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    for block in model.blocks:
        curve = pert[block.name]
        assert sorted(curve) == list(DEFAULT_CHOICES)
        assert curve[8] < curve[5] < curve[2]
        # by hand: round(w·s_b)/s_b with the shared layer scale at b bits
        w = block.conv.weight.detach().double()
        s = chip_scale_t(w, None, block.threshold, block.min_v_mem, 4)
        assert curve[4] == pytest.approx(float(((torch.round(w * s) / s - w) ** 2).sum()), rel=1e-6)
        levels = torch.round(w * s)
        assert float(levels.abs().max()) <= 8  # a 4-bit signed range
    # the model's own bits give the QAT weights exactly
    block = model.blocks[1]
    wq = block.params(quantize=True)[0].detach().double()
    s6 = chip_scale_t(block.conv.weight, None, block.threshold, block.min_v_mem, 6)
    assert pert["fc"][6] == pytest.approx(float(((wq / s6 - block.conv.weight.detach().double()) ** 2).sum()), rel=1e-9)


def test_apply_bits_updates_blocks_and_spec_so_checkpoints_keep_them(tmp_path):
    from qsnn_deploy.nets.checkpoint import load_checkpoint, save_checkpoint

    model = _tiny_model()
    apply_bits(model, {"c1": 3, "fc": 5})
    assert [b.weight_bits for b in model.blocks] == [3, 5]
    save_checkpoint(tmp_path / "c.pt", model, {})
    loaded, _ = load_checkpoint(tmp_path / "c.pt")
    assert [b.weight_bits for b in loaded.blocks] == [3, 5]
    with pytest.raises(ValueError, match="no such layers"):
        apply_bits(model, {"nope": 4})


def test_auto_bits_end_to_end_on_a_tiny_model():
    model = _tiny_model()
    g = torch.Generator().manual_seed(0)
    x = ((torch.rand(6, 3, 1, 6, 6, generator=g) < 0.5) * 2).float()
    y = torch.randint(0, 3, (6,), generator=g)
    alloc, hess = auto_bits(model, (x, y), "4", n_iter=3, batch_size=6)
    assert hess.names == ("c1", "fc") and hess.iterations == 3
    assert alloc.names == hess.names and alloc.avg_bits <= 4
    assert [b.weight_bits for b in model.blocks] == [8, 6]  # not applied
    with pytest.raises(UsageError, match="below the smallest"):
        auto_bits(model, (x, y), "10B", n_iter=3)
