"""Spiking neurons for training: the chip's IAF and leaky models (LIF, DECOLLE, snnTorch Leaky).

A neuron acts on the input current ``i`` (the conv output of one time step) and a state tuple::

    state = neuron.init_state(i0)             # zeros shaped like one step's current
    spikes, state = neuron.step(i, state, thr, low, reset, unit)

``thr``/``low`` are the block's threshold and lower bound (integer units when quantised), ``reset`` is
"subtract" or "zero", ``unit`` is one float unit of membrane in the units of ``i`` and ``thr`` (``thr / θ``:
the layer's integer scale when quantised, 1 in float). :func:`make_neuron` builds one from a model spec
(``neuron: {type: ...}``).

The binary neurons' surrogates and DECOLLE's refractory weight ``w_rp`` read the membrane in float units,
``(U − θ)/unit``, so that quantisation-aware training gets the float model's gradients (per float weight), as
the multi-spike surrogate's width, relative to the threshold, gives IAF and LIF. Read in integer units
(θ ≈ 500–3000 on digits_speck) the fast-sigmoid gradient of a silent neuron was ~1e-8, the SmoothStep window
±½ of one unit and the refractory kick one unit: leaky, decolle and decolle-simple stayed at chance under
QAT (issue 18).

- ``iaf``: Speck's integrate-and-fire, ``v ← max(v + i − n·θ, v_min)`` with ``n = ⌊v/θ⌋`` spikes
  (:class:`MultiSpikeFn`). The only type Speck runs.
- ``lif``: the same with membrane decay, ``v ← β·v + i``.
- ``leaky`` (4-bit QSNN, snnTorch ``Leaky``): ``U ← β·U + I − S_prev·θ`` (reset by subtraction with the previous,
  detached spike), binary ``S = Θ(U − θ)``, fast-sigmoid surrogate ``1/(k·|U − θ| + 1)²``; no lower bound.
- ``decolle`` (DECOLLE ``LIFLayer``): synaptic and membrane traces on the current,
  ``Q ← βQ + (1−β)I``, ``P ← αP + (1−α)Q``, refractory ``R ← α_rp·R − w_rp·S_prev``, ``U = P + R``,
  binary ``S = Θ(U − θ)``, surrogate ``1/(k|U − θ| + 1)²`` (k = 10). The conv is linear, so filtering its
  output equals DECOLLE's ``W·P`` of filtered input spikes (the bias is filtered along). DECOLLE's decays are
  per 1 ms step (``step_ms``); training raises them to the run's bin, ``α^(dt/1 ms)``
  (:func:`~qsnn_deploy.nets.zoo.at_time_step`). Applied per 30 ms bin as they were (digits-dvs, 10 bins), the
  unit-gain traces averaged the current over the whole sample, P stayed far below θ = 1 and digits_speck was
  silent from conv1 on.
- ``decolle-simple`` (DECOLLE, Lui & Neftci ``SimpleLIFLayer``): ``P ← αP + I``, ``R ← αR + α·U_prev·S_prev``,
  ``U = P − R``, binary ``S = Θ(U − θ)``, SmoothStep surrogate: 1 on ``−½ < U ≤ θ + ½`` (float units). DECOLLE's
  window ``(−½, ½]`` lies around its threshold 0, which is also the rest potential; with a positive θ it is
  stretched from ½ below rest to ½ above θ (the same window for θ = 0), else a silent neuron (U = 0, θ = 1) had no
  gradient and digits_speck never woke from its silent conv3/fc. Filtering the current with its bias equals
  DECOLLE's bias correction ``−α·b`` in ``R``. ``U_prev`` is stored detached. Its α is per 1 ms too, raised to
  the run's bin like ``decolle``'s.

Binary neurons ignore ``reset`` and ``low`` (their reset is part of the dynamics).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import torch

State = tuple[torch.Tensor, ...]

# ``ctx`` of the autograd functions below is torch's context object, to which ``forward`` adds attributes
# of its own (``ctx.width``): typed ``Any`` because torch's ``FunctionCtx`` declares none of them.


class MultiSpikeFn(torch.autograd.Function):
    """n = ⌊v/θ⌋ spikes for v ≥ θ (exact for integer-valued floats); periodic-exponential surrogate.

    The surrogate is the one of Weidel & Sheik (2021) with the width taken relative to the
    threshold, so that the float and integer-unit models get the same gradients.
    """

    @staticmethod
    def forward(ctx: Any, v: torch.Tensor, thr: torch.Tensor, width: float) -> torch.Tensor:
        ctx.save_for_backward(v, thr)
        ctx.width = width
        n = torch.floor(v / thr).clamp_min(0)
        n = n - (n * thr > v).to(v.dtype) + ((n + 1) * thr <= v).to(v.dtype)  # repair float division
        return n.clamp_min(0)

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        v, thr = ctx.saved_tensors
        u = v / thr
        periodic = 2 * ((u - 0.5) - torch.floor(u - 0.5)) - 1
        dist = torch.where(u < 1, u - 1, periodic)
        grad = torch.exp(-dist.abs() / ctx.width) / thr
        return grad_out * grad, None, None


class FastSigmoidSpike(torch.autograd.Function):
    """Heaviside ``x ≥ 0`` forward; fast-sigmoid surrogate ``1/(slope·|x| + 1)²`` (snnTorch's)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, slope: float) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.slope = slope
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[torch.Tensor, None]:
        (x,) = ctx.saved_tensors
        return grad_out / (ctx.slope * x.abs() + 1) ** 2, None


class SmoothStepSpike(torch.autograd.Function):
    """Heaviside ``x ≥ 0`` forward; SmoothStep surrogate: gradient 1 on ``−below < x ≤ ½``, else 0 (DECOLLE's
    ``below`` is ½)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, below: torch.Tensor | float = 0.5) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.below = below
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[torch.Tensor, None]:
        (x,) = ctx.saved_tensors
        return grad_out * ((x > -ctx.below) & (x <= 0.5)).to(grad_out.dtype), None


class Neuron(ABC):
    """Base class: subclasses set ``type``/``n_states`` and implement :meth:`step`."""

    type = "base"
    n_states = 1
    leaky = True

    def __init__(self, surrogate_width: float = 0.5, **params: float) -> None:
        self.surrogate_width = surrogate_width
        self.params = dict(params)

    def init_state(self, like: torch.Tensor) -> State:
        return tuple(torch.zeros_like(like) for _ in range(self.n_states))

    @abstractmethod
    def step(
        self,
        i: torch.Tensor,
        state: State,
        thr: torch.Tensor,
        low: torch.Tensor,
        reset: str,
        unit: torch.Tensor | float = 1.0,
    ) -> tuple[torch.Tensor, State]:
        """One time step: input current ``i`` → (spikes, new state); ``unit``: one float unit of membrane in the
        units of ``i`` and ``thr`` (see the module docstring)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v:g}' for k, v in self.params.items())})"


def _chip_reset(
    v: torch.Tensor, spikes: torch.Tensor, thr: torch.Tensor, low: torch.Tensor, reset: str
) -> torch.Tensor:
    v = v - spikes * thr if reset == "subtract" else v * (spikes == 0).to(v.dtype)
    return torch.maximum(v, low)


class IAF(Neuron):
    """Speck's multi-spike integrate-and-fire (no leak)."""

    type, leaky = "iaf", False

    def step(
        self,
        i: torch.Tensor,
        state: State,
        thr: torch.Tensor,
        low: torch.Tensor,
        reset: str,
        unit: torch.Tensor | float = 1.0,
    ) -> tuple[torch.Tensor, State]:
        v = state[0] + i
        spikes = MultiSpikeFn.apply(v, thr, self.surrogate_width)
        return spikes, (_chip_reset(v, spikes, thr, low, reset),)


class LIF(Neuron):
    """IAF with membrane decay β per step: ``v ← β·v + i``."""

    type = "lif"

    def step(
        self,
        i: torch.Tensor,
        state: State,
        thr: torch.Tensor,
        low: torch.Tensor,
        reset: str,
        unit: torch.Tensor | float = 1.0,
    ) -> tuple[torch.Tensor, State]:
        v = self.params["beta"] * state[0] + i
        spikes = MultiSpikeFn.apply(v, thr, self.surrogate_width)
        return spikes, (_chip_reset(v, spikes, thr, low, reset),)


class Leaky(Neuron):
    """snnTorch ``Leaky`` (reset by subtraction with the previous spike, detached); state (U, S_prev)."""

    type, n_states = "leaky", 2

    def step(
        self,
        i: torch.Tensor,
        state: State,
        thr: torch.Tensor,
        low: torch.Tensor,
        reset: str,
        unit: torch.Tensor | float = 1.0,
    ) -> tuple[torch.Tensor, State]:
        u, s_prev = state
        u = self.params["beta"] * u + i - s_prev.detach() * thr
        spikes = FastSigmoidSpike.apply((u - thr) / unit, self.params["slope"])
        return spikes, (u, spikes)


class DecolleLIF(Neuron):
    """DECOLLE's LIF: state (Q, P, R, S_prev)."""

    type, n_states = "decolle", 4

    def step(
        self,
        i: torch.Tensor,
        state: State,
        thr: torch.Tensor,
        low: torch.Tensor,
        reset: str,
        unit: torch.Tensor | float = 1.0,
    ) -> tuple[torch.Tensor, State]:
        q, p, r, s_prev = state
        a, b = self.params["alpha"], self.params["beta"]
        q = b * q + (1 - b) * i
        p = a * p + (1 - a) * q
        r = self.params["alpha_rp"] * r - self.params["w_rp"] * unit * s_prev
        spikes = FastSigmoidSpike.apply((p + r - thr) / unit, self.params["slope"])
        return spikes, (q, p, r, spikes)


class DecolleSimple(Neuron):
    """The simplified DECOLLE neuron: state (P, R, U_prev detached, S_prev)."""

    type, n_states = "decolle-simple", 4

    def step(
        self,
        i: torch.Tensor,
        state: State,
        thr: torch.Tensor,
        low: torch.Tensor,
        reset: str,
        unit: torch.Tensor | float = 1.0,
    ) -> tuple[torch.Tensor, State]:
        p, r, u_prev, s_prev = state
        a = self.params["alpha"]
        p = a * p + i
        r = a * r + a * u_prev * s_prev
        u = p - r
        # DECOLLE's window (−½, ½] lies around its threshold 0, which is also the rest potential: stretched here
        # from ½ below rest to ½ above θ, so that a silent neuron (U = 0) has a gradient, as in DECOLLE
        spikes = SmoothStepSpike.apply((u - thr) / unit, thr / unit + 0.5)
        return spikes, (p, r, u.detach(), spikes)


NEURONS: dict[str, type[Neuron]] = {cls.type: cls for cls in (IAF, LIF, Leaky, DecolleLIF, DecolleSimple)}


def make_neuron(ntype: str = "iaf", params: dict[str, float] | None = None, surrogate_width: float = 0.5) -> Neuron:
    """A neuron of ``ntype`` with ``params`` (validated, defaults filled in by :mod:`qsnn_deploy.nets.zoo`)."""
    from ..errors import UsageError
    from .zoo import neuron_type_params

    ntype, full = neuron_type_params(ntype, dict(params or {}), "neuron", UsageError)
    return NEURONS[ntype](surrogate_width, **full)


def detach_state(state: State) -> State:
    """The state cut from the autograd graph (no gradient across time steps)."""
    return tuple(s.detach() for s in state)
