"""Hessian traces: double backward through the surrogate is right, Hutchinson agrees with the exact trace."""

import math

import numpy as np
import pytest
import torch

from qsnn_deploy.errors import UsageError
from qsnn_deploy.nets.network import MultiSpikeFn, SpikingCNN
from qsnn_deploy.nets.zoo import spec_from_dict
from qsnn_deploy.train.hessian import (
    HessianResult,
    exact_hessian,
    exact_layer_traces,
    hutchinson_traces,
    layer_weights,
    rademacher,
)
from qsnn_deploy.train.losses import count_cross_entropy

TINY = {
    "name": "tiny",
    "input_shape": [1, 6, 6],
    "n_classes": 3,
    "neuron": {"threshold": 1.0},
    "layers": [
        {"type": "conv", "name": "c1", "out_channels": 2, "kernel_size": 3},
        {"type": "linear", "name": "fc", "out_features": 3},
    ],
}


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny graphs: one thread is fastest on shared cores


def tiny_model(quantize: bool = False, dtype=torch.float32) -> SpikingCNN:
    torch.manual_seed(0)
    model = SpikingCNN(spec_from_dict(TINY), quantize=quantize).to(dtype)
    with torch.no_grad():  # large enough weights that both layers spike
        for w in layer_weights(model):
            w.mul_(3)
    return model


def tiny_data(n: int = 8, t: int = 3, dtype=torch.float32):
    g = torch.Generator().manual_seed(1)
    x = ((torch.rand(n, t, 1, 6, 6, generator=g) < 0.4) * 2).to(dtype)
    return x, torch.randint(0, 3, (n,), generator=g)


def test_tiny_model_spikes_in_both_layers():
    model, (x, _) = tiny_model(), tiny_data()
    hidden = model.blocks[0](x, False)
    assert float(hidden.detach().sum()) > 0 and float(model.blocks[1](hidden, False).detach().sum()) > 0


@pytest.mark.parametrize("thr", [1.0, 2.5])
def test_double_backward_through_multispike_matches_the_closed_form(thr):
    """d²n/dv² of the surrogate: −sign(d)·(slope/θ)/width·exp(−|d|/width)/θ, with d = u − 1 below the
    threshold (slope 1) and d = 2·frac(u − ½) − 1 above (slope 2), u = v/θ."""
    width = 0.5
    u = torch.tensor([-0.4, 0.2, 0.7, 0.93, 1.2, 1.45, 1.6, 2.1, 2.8, 3.3], dtype=torch.float64)
    v = (u * thr).requires_grad_()
    n = MultiSpikeFn.apply(v, torch.tensor(thr, dtype=torch.float64), width)
    (g,) = torch.autograd.grad(n.sum(), v, create_graph=True)
    (g2,) = torch.autograd.grad(g.sum(), v)
    d = torch.where(u < 1, u - 1, 2 * ((u - 0.5) - torch.floor(u - 0.5)) - 1)
    slope = torch.where(u < 1, 1.0, 2.0)
    expected = -torch.sign(d) * slope / thr / width * torch.exp(-d.abs() / width) / thr
    assert torch.allclose(g2, expected, rtol=1e-12, atol=1e-12)
    assert bool((g2 != 0).all())


def test_exact_hessian_matches_finite_differences_of_a_smooth_network(monkeypatch):
    """With the spike function swapped for a smooth one (softplus steps), the network is a smooth function
    and the double backward through BPTT, conv, reset and pooling must equal central differences of
    its gradient (float64).

    With the real spike function it does not, by design: finite differences see ∂L/∂n frozen (spike
    counts are piecewise constant), whereas the surrogate Hessian also carries the loss curvature back
    through the surrogate derivatives — the Gauss-Newton part, which is the part that matters.
    """

    def smooth_spikes(v, thr, width):
        return width * torch.nn.functional.softplus((v / thr - 1) / width)

    monkeypatch.setattr(MultiSpikeFn, "apply", smooth_spikes)
    model = tiny_model(dtype=torch.float64)
    x, y = tiny_data(dtype=torch.float64)
    params = layer_weights(model)
    h = exact_hessian(model, (x, y))

    def flat_grad():
        return torch.cat([g.reshape(-1) for g in torch.autograd.grad(count_cross_entropy(model(x), y), params)])

    flat = torch.cat([p.detach().reshape(-1) for p in params])
    eps = 1e-5
    for j in (0, 5, 17, 18, 60, 113):
        cols = []
        for sign in (1, -1):
            shifted = flat.clone()
            shifted[j] += sign * eps
            with torch.no_grad():
                torch.nn.utils.vector_to_parameters(shifted, params)
            cols.append(flat_grad())
        with torch.no_grad():
            torch.nn.utils.vector_to_parameters(flat, params)
        fd = (cols[0] - cols[1]) / (2 * eps)
        assert torch.allclose(h[:, j], fd, rtol=1e-5, atol=1e-7), j
    assert torch.allclose(h, h.T, atol=1e-9)  # a true Hessian is symmetric


@pytest.mark.parametrize("quantize", [False, True])
def test_each_probe_equals_v_H_v_of_the_exact_hessian(quantize):
    """The Hessian-vector products are exact: every per-probe estimate is vᵀHv with the same probes."""
    model, data = tiny_model(quantize), tiny_data()
    h = exact_hessian(model, data)
    assert torch.allclose(h, h.T, atol=1e-5 * float(h.abs().max()))  # formal chain rule: symmetric
    res = hutchinson_traces(model, data, n_iter=6, tol=0, batch_size=3, seed=7, probes_per_pass=4)
    gen = torch.Generator().manual_seed(7)
    sizes = res.n_params
    for row in res.estimates:
        v = torch.cat([p.reshape(-1) for p in rademacher([w.shape for w in layer_weights(model)], gen)]).double()
        hv = h.T @ v  # autograd's vector-Jacobian product: Σ_j v_j ∂g_j/∂w_i
        expected = [float(a.sum()) for a in (v * hv).split(sizes)]
        assert row == pytest.approx(expected, rel=1e-4, abs=1e-5)
    assert res.quantize is quantize


def _probe_std(h: torch.Tensor, sizes) -> list[float]:
    """Exact standard deviation of one probe's estimate v_lᵀ(Hᵀv)_l for Rademacher v: the estimate is
    Tr + Σ_{i<j} c_ij v_i v_j with c_ij = H_ji·[i∈l] + H_ij·[j∈l], so Var = Σ_{i<j} c_ij²."""
    out, start = [], 0
    for n in sizes:
        inside = torch.zeros(h.shape[0], dtype=torch.float64)
        inside[start : start + n] = 1
        c = h.T * inside[:, None] + h * inside[None, :]
        out.append(float(torch.triu(c, diagonal=1).pow(2).sum().sqrt()))
        start += n
    return out


def test_hutchinson_converges_to_the_exact_trace():
    """400 probes: each layer's estimate lies within 4 exact standard errors of the exact trace, and the
    reported standard error matches the exact one within 25 %."""
    model, data = tiny_model(), tiny_data()
    exact = exact_layer_traces(model, data)
    h = exact_hessian(model, data)
    res = hutchinson_traces(model, data, n_iter=400, tol=0, batch_size=8, seed=0, probes_per_pass=100)
    assert res.iterations == 400 and not res.converged
    for est, ref, se, sd in zip(res.traces, exact, res.stderr, _probe_std(h, res.n_params)):
        assert ref != 0 and est != 0
        assert abs(est - ref) <= 4 * sd / math.sqrt(400)
        assert se == pytest.approx(sd / math.sqrt(400), rel=0.25)


def test_per_layer_traces_are_nonzero_for_qat_and_float():
    data = tiny_data()
    for quantize in (False, True):
        traces = exact_layer_traces(tiny_model(quantize), data)
        assert all(abs(t) > 1e-3 for t in traces)


def test_qat_hessian_is_the_integer_unit_hessian_times_the_scale_squared():
    """QAT traces (w.r.t. the float weights) = s² × the traces of the same network written in integer
    units (weights round(s·w), threshold round(s·θ)): the STE adds no curvature of its own, so QAT
    traces are in float weight units, like the perturbations ‖Q_b(W) − W‖²."""
    from qsnn_deploy.quant.fake import chip_scale_t

    model, data = tiny_model(quantize=True), tiny_data()
    qat = exact_layer_traces(model, data)
    scales = []
    with torch.no_grad():
        for block in model.blocks:
            scales.append(
                float(
                    chip_scale_t(
                        block.conv.weight, block.conv.bias, block.threshold, block.min_v_mem, block.weight_bits
                    )
                )
            )
            wq, _, thr, low = block.params(quantize=True)
            block.conv.weight.copy_(wq)
            block.threshold.fill_(float(thr))
            block.min_v_mem.fill_(float(low))
    integer = exact_layer_traces(model, data, quantize=False)
    assert all(s > 10 for s in scales)
    assert qat == pytest.approx([s * s * t for s, t in zip(scales, integer)], rel=1e-4)


def test_seeded_runs_repeat_and_chunking_does_not_matter():
    model, data = tiny_model(), tiny_data()
    a = hutchinson_traces(model, data, n_iter=5, tol=0, batch_size=3, seed=3, probes_per_pass=1)
    b = hutchinson_traces(model, data, n_iter=5, tol=0, batch_size=3, seed=3, probes_per_pass=1)
    c = hutchinson_traces(model, data, n_iter=5, tol=0, batch_size=3, seed=3, probes_per_pass=5)
    d = hutchinson_traces(model, data, n_iter=5, tol=0, batch_size=3, seed=4, probes_per_pass=5)
    assert a.estimates == b.estimates and a.traces == b.traces
    assert np.allclose(a.estimates, c.estimates, rtol=1e-6, atol=1e-9)
    assert not np.allclose(a.estimates, d.estimates)
    gen = torch.Generator().manual_seed(3)  # an explicit generator replaces the seed
    e = hutchinson_traces(model, data, n_iter=5, tol=0, batch_size=3, seed=99, generator=gen, probes_per_pass=5)
    assert np.allclose(e.estimates, c.estimates, rtol=1e-6, atol=1e-9)


def test_samples_pick_a_seeded_subset_and_state_is_restored():
    model, data = tiny_model(quantize=True), tiny_data(n=10)
    model.train()
    res = hutchinson_traces(model, data, n_iter=2, samples=4, batch_size=2, seed=1, quantize=False)
    assert res.samples == 4 and res.quantize is False
    assert model.quantize is True and model.training
    assert len(res.stderr_batches) == 2 and all(s is not None and s >= 0 for s in res.stderr_batches)
    again = hutchinson_traces(model, data, n_iter=2, samples=4, batch_size=2, seed=1, quantize=False)
    assert again.traces == res.traces
    assert hutchinson_traces(model, data, n_iter=1, samples=50).samples == 10


def test_early_stop_on_tolerance():
    model, data = tiny_model(), tiny_data()
    res = hutchinson_traces(model, data, n_iter=50, tol=1e6, batch_size=8, probes_per_pass=1)
    assert res.converged and res.iterations == 2
    one = hutchinson_traces(model, data, n_iter=1, tol=0)
    assert one.iterations == 1 and one.stderr == (None, None)


def test_bad_settings_are_usage_errors():
    model, data = tiny_model(), tiny_data()
    for kwargs in ({"n_iter": 0}, {"batch_size": 0}, {"tol": -1.0}, {"samples": 0}, {"probes_per_pass": 0}):
        with pytest.raises(UsageError):
            hutchinson_traces(model, data, **kwargs)


def test_exact_traces_of_a_closure():
    """½ wᵀAw has Hessian A: per-tensor traces are the traces of A's diagonal blocks."""
    g = torch.Generator().manual_seed(0)
    a = torch.randn(5, 5, generator=g, dtype=torch.float64)
    a = a + a.T
    w1 = torch.randn(2, generator=g, dtype=torch.float64, requires_grad=True)
    w2 = torch.randn(3, generator=g, dtype=torch.float64, requires_grad=True)

    def loss():
        w = torch.cat([w1, w2])
        return 0.5 * w @ a @ w

    traces = exact_layer_traces(loss, params=[w1, w2])
    assert traces == pytest.approx([float(a[:2, :2].trace()), float(a[2:, 2:].trace())])
    assert torch.allclose(exact_hessian(loss, params=[w1, w2]), a)


def test_result_ranking_and_dict():
    res = HessianResult(
        names=("a", "b", "c"),
        traces=(10.0, 4.0, -1.0),
        n_params=(100, 10, 5),
        stderr=(1.0, 0.5, 0.2),
        stderr_batches=(2.0, None, 0.1),
        estimates=((9.0, 4.5, -1.2), (11.0, 3.5, -0.8)),
        iterations=2,
        samples=8,
    )
    assert res.trace_per_param == (0.1, 0.4, -0.2)
    assert res.ranking == ("b", "a", "c") and res.ranking_by_trace == ("a", "b", "c")
    d = res.to_dict()
    assert [layer["rank"] for layer in d["layers"]] == [2, 1, 3]
    assert d["layers"][0]["stderr_per_param"] == pytest.approx(0.01)
    assert d["total_trace"] == pytest.approx(13.0) and "units" in d
    assert math.isclose(d["layers"][1]["trace_per_param"], 0.4)
