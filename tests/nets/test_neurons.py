"""Neuron types: hand-computed dynamics, surrogates, IAF unchanged, YAML parsing, convert's leak check."""

import pytest
import torch
import torch.nn.functional as F
from helpers import TINY, run_cli

from qsnn_deploy.errors import InputError, UsageError
from qsnn_deploy.nets.checkpoint import save_checkpoint
from qsnn_deploy.nets.network import ChipBlock, MultiSpikeFn, SpikingCNN
from qsnn_deploy.nets.neurons import FastSigmoidSpike, SmoothStepSpike, make_neuron
from qsnn_deploy.nets.zoo import at_time_step, spec_from_dict, with_neuron

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny graphs: one thread is fastest on shared cores


def _run(ntype, params, currents, thr=1.0, low=-1.0, reset="subtract"):
    neuron = make_neuron(ntype, params)
    i = torch.tensor(currents, dtype=torch.float32)
    state = neuron.init_state(i[0])
    thr_t, low_t = torch.tensor(thr), torch.tensor(low)
    out, mem = [], []
    for step in i:
        s, state = neuron.step(step, state, thr_t, low_t, reset)
        out.append(float(s))
        mem.append(state)
    return out, mem


def test_lif_decay():
    spikes, mem = _run("lif", {"beta": 0.5}, [0.75, 0.75, 0.75])
    # v: 0.75; 0.375 + 0.75 = 1.125 → spike, 0.125; 0.0625 + 0.75 = 0.8125
    assert spikes == [0, 1, 0]
    assert [float(m[0]) for m in mem] == [0.75, 0.125, 0.8125]


def test_leaky_snntorch_dynamics():
    spikes, mem = _run("leaky", {"beta": 0.5}, [0.75] * 5)
    # U: .75; .375+.75 = 1.125 (S); .5625+.75−1 = .3125; .15625+.75 = .90625; .453125+.75 = 1.203125 (S)
    assert spikes == [0, 1, 0, 0, 1]
    assert [float(m[0]) for m in mem] == [0.75, 1.125, 0.3125, 0.90625, 1.203125]


def test_fast_sigmoid_surrogate_value():
    x = torch.tensor(0.2, requires_grad=True)
    FastSigmoidSpike.apply(x, 25.0).backward()
    assert float(x.grad) == pytest.approx(1 / 36)  # 1/(25·0.2 + 1)²
    u = torch.tensor(1.2, requires_grad=True)  # through the Leaky neuron: ∂S/∂U at U − θ = 0.2
    s, _ = make_neuron("leaky").step(
        u, (torch.tensor(0.0), torch.tensor(0.0)), torch.tensor(1.0), torch.tensor(-1.0), "subtract"
    )
    s.backward()
    assert float(s.detach()) == 1 and float(u.grad) == pytest.approx(1 / 36)


def test_decolle_traces():
    p = {"alpha": 0.5, "beta": 0.5, "alpha_rp": 0.5, "w_rp": 1.0}
    spikes, mem = _run("decolle", p, [1.0, 1.0, 1.0], thr=0.2)
    # Q .5, P .25, R 0 → U .25 ≥ .2 (S); Q .75, P .5, R −1 → U −.5; Q .875, P .6875, R −.5 → U .1875
    assert spikes == [1, 0, 0]
    q, pp, r = ([float(m[k]) for m in mem] for k in range(3))
    assert q == [0.5, 0.75, 0.875] and pp == [0.25, 0.5, 0.6875] and r == [0.0, -1.0, -0.5]


def test_decolle_simple_neuron():
    spikes, mem = _run("decolle-simple", {"alpha": 0.5}, [1.0, 0.0, 0.5], thr=0.5)
    # P 1, R 0, U 1 (S); P .5, R .5·1·1 = .5, U 0; P .75, R .25, U .5 (S)
    assert spikes == [1, 0, 1]
    assert [float(m[0]) for m in mem] == [1.0, 0.5, 0.75] and [float(m[1]) for m in mem] == [0.0, 0.5, 0.25]
    x = torch.tensor([-0.6, -0.5, 0.3, 0.5, 0.6], requires_grad=True)
    SmoothStepSpike.apply(x).sum().backward()
    assert x.grad.tolist() == [0, 0, 1, 1, 0]


def _old_block_forward(block: ChipBlock, x: torch.Tensor, quantize: bool) -> torch.Tensor:
    """The IAF forward before neuron types existed (copied)."""
    n, t = x.shape[:2]
    w, b, thr, low = block.params(quantize)
    current = F.conv2d(x.flatten(0, 1), w, b, stride=block.stride, padding=block.padding).unflatten(0, (n, t))
    v = torch.zeros_like(current[:, 0])
    out = []
    for step in range(t):
        v = v + current[:, step]
        spikes = MultiSpikeFn.apply(v, thr, block.surrogate_width)
        v = v - spikes * thr if block.reset == "subtract" else v * (spikes == 0).to(v.dtype)
        v = torch.maximum(v, low)
        out.append(spikes)
    s = torch.stack(out, 1)
    if block.pool > 1:
        s = (F.avg_pool2d(s.flatten(0, 1), block.pool) * (block.pool * block.pool)).unflatten(0, (n, t))
    return s


@pytest.mark.parametrize("quantize", [False, True])
@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_iaf_is_unchanged(quantize, reset):
    torch.manual_seed(0)
    spec = spec_from_dict({**TINY, "neuron": {"threshold": 0.5, "reset": reset}})
    model = SpikingCNN(spec, quantize=quantize)
    x = (torch.rand(3, 5, 2, 8, 8) < 0.4).float() * 2
    block = model.blocks[0]
    assert type(block.neuron).__name__ == "IAF"
    new, old = block(x, quantize), _old_block_forward(block, x, quantize)
    assert torch.equal(new, old)
    g_new = torch.autograd.grad(new.sum(), block.conv.weight)[0]
    g_old = torch.autograd.grad(old.sum(), block.conv.weight)[0]
    assert torch.equal(g_new, g_old)


def test_yaml_neuron_types():
    spec = spec_from_dict({**TINY, "neuron": {"type": "lif", "beta": 0.8, "threshold": 2.0}})
    assert spec.neuron_type == "lif" and spec.neuron_params == {"beta": 0.8} and spec.threshold == 2.0
    assert spec_from_dict(spec.to_dict()) == spec
    assert all(type(b.neuron).__name__ == "LIF" for b in SpikingCNN(spec).blocks)
    d = spec_from_dict({**TINY, "neuron": {"type": "decolle"}}).neuron_params
    assert d == {"alpha": 0.9, "beta": 0.85, "alpha_rp": 0.65, "w_rp": 1.0, "slope": 10.0, "step_ms": 1.0}
    assert spec_from_dict({**TINY, "neuron": {"type": "leaky"}}).neuron_params["slope"] == 25.0
    iaf = spec_from_dict(TINY)
    assert iaf.neuron_type == "iaf" and "type" not in iaf.to_dict()["neuron"]  # IAF models' files unchanged
    assert with_neuron(iaf, "leaky", beta=0.6).neuron_params == {"beta": 0.6, "slope": 25.0}


@pytest.mark.parametrize(
    "neuron, match",
    [
        ({"type": "izhikevich"}, "neuron types: iaf, lif, leaky, decolle, decolle-simple"),
        ({"type": "lif", "beta": 1.5}, "decay"),
        ({"type": "lif", "slope": 3}, "unknown key 'slope'.*allowed keys: beta"),
        ({"type": "iaf", "beta": 0.9}, "unknown key 'beta'"),
        ({"type": "leaky", "slope": 0}, "slope"),
        ({"type": "decolle", "step_ms": 0}, "step_ms"),
    ],
)
def test_bad_neuron_is_an_input_error(neuron, match):
    with pytest.raises(InputError, match=match):
        spec_from_dict({**TINY, "neuron": neuron})


def test_decays_per_millisecond_become_decays_per_bin():
    decolle = with_neuron(spec_from_dict(TINY), "decolle", beta=0.5)
    per_bin = at_time_step(decolle, 30_000.0)
    assert per_bin.neuron_params == {
        "alpha": pytest.approx(0.9**30),
        "beta": pytest.approx(0.5**30),
        "alpha_rp": pytest.approx(0.65**30),
        "w_rp": 1.0,
        "slope": 10.0,
        "step_ms": 30.0,
    }
    assert at_time_step(per_bin, 30_000.0) is per_bin  # a resumed run's spec is not raised twice
    assert at_time_step(per_bin, 60_000.0).neuron_params["beta"] == pytest.approx(0.5**60)
    assert at_time_step(decolle, 1000.0) is decolle
    lif = with_neuron(decolle, "lif", beta=0.8)
    assert at_time_step(lif, 30_000.0) is lif  # decays per step of the run: unchanged
    whole = at_time_step(decolle, 1e9)  # a decay too small for a float stays a valid, complete one
    assert spec_from_dict(whole.to_dict()).neuron_params["alpha_rp"] > 0


def test_with_neuron_bad_type_is_usage_error():
    with pytest.raises(UsageError, match="did you mean 'leaky'"):
        with_neuron(spec_from_dict(TINY), "leaky2")


def test_convert_refuses_leak_unless_approximated(tmp_path):
    spec = spec_from_dict({**TINY, "neuron": {"type": "lif", "beta": 0.9}})
    torch.manual_seed(0)
    ckpt = tmp_path / "checkpoint.pt"
    save_checkpoint(ckpt, SpikingCNN(spec), {"dt_us": 1000.0, "time_bins": 4})
    proc = run_cli("convert", ckpt, "--target", "speck2f", "--out", tmp_path / "b", check=False)
    assert proc.returncode == 4, proc.stderr
    assert "no leak" in proc.stderr and "--approximate-leak" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "b").exists()
    proc = run_cli("convert", ckpt, "--target", "speck2f", "--out", tmp_path / "b", "--approximate-leak")
    assert "warning: 'lif' neurons" in proc.stderr and "deploy --target emulator" in proc.stderr
    assert (tmp_path / "b" / "model.nir").is_file()


@pytest.mark.parametrize(
    "ntype, params",
    [("leaky", {}), ("decolle", {"alpha": 0.5, "beta": 0.5}), ("decolle-simple", {"alpha": 0.5})],
)
def test_binary_neurons_are_unit_free(ntype, params):
    """In integer units (current, θ and the unit all × s) a binary neuron spikes as in float and its gradient per
    float current is the float one: surrogates and DECOLLE's refractory kick read float units (issue 18: under
    QAT, θ ≈ 500–3000 units, they were read in integer units and these neurons did not learn)."""
    torch.manual_seed(0)
    currents = torch.rand(6, 50) * 1.5

    def run(scale):
        neuron = make_neuron(ntype, params)
        i = (currents * scale).requires_grad_()
        thr, unit = torch.tensor(0.8 * scale), torch.tensor(scale)
        state, out = neuron.init_state(i[0]), []
        for step in i:
            s, state = neuron.step(step, state, thr, -thr, "subtract", unit)
            out.append(s)
        spikes = torch.stack(out)
        (spikes * torch.linspace(-1, 1, 50)).sum().backward()
        return spikes.detach(), i.grad * scale

    (s_float, g_float), (s_int, g_int) = run(1.0), run(300.0)
    assert torch.equal(s_float, s_int) and s_float.sum() > 0
    assert g_float.abs().sum() > 0
    torch.testing.assert_close(g_int, g_float, rtol=1e-4, atol=1e-6)


def test_decolle_simple_window_reaches_rest():
    """DECOLLE's SmoothStep window (−½, ½] sits around its threshold 0, the rest potential: here it spans ½ below
    rest to ½ above θ, so that a silent neuron (U = 0) gets a gradient."""
    u = torch.tensor([-0.6, -0.4, 0.0, 1.0, 1.4, 1.6], requires_grad=True)
    zeros = torch.zeros(6)
    s, _ = make_neuron("decolle-simple").step(u, (zeros, zeros, zeros, zeros), torch.tensor(1.0), -torch.ones(()), "")
    s.sum().backward()
    assert s.tolist() == [0, 0, 0, 1, 1, 1] and u.grad.tolist() == [0, 1, 1, 1, 1, 0]
