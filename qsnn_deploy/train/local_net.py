"""The networks of the local learning rules (:mod:`.local_rules`): a :class:`SpikingCNN` with a training-only
readout per hidden block, one time step at a time (:meth:`LocalRuleNet.forward_step`, :func:`run_batch`), and the
meter of the state autograd keeps for backward (:class:`StateMeter`)."""

from __future__ import annotations

from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import UsageError
from ..nets.framed import FramedSplit
from ..nets.network import SpikingCNN
from ..nets.neurons import detach_state, make_neuron
from ..nets.zoo import ModelSpec
from .checks import LOCAL_RULES as RULES
from .integer_net import readout_pool


class _LinearFA(torch.autograd.Function):
    """``x·Wᵀ + b`` whose input gradient goes through the fixed matrix ``B`` (feedback alignment)."""

    @staticmethod
    def forward(ctx, x, w, b, feedback):
        ctx.save_for_backward(x, feedback)
        return F.linear(x, w, b)

    @staticmethod
    def backward(ctx, g):
        x, feedback = ctx.saved_tensors
        return g @ feedback, g.t() @ x, g.sum(0), None


class Readout(nn.Module):
    """Auxiliary classifier of one hidden block: avg-pool → linear (→ spiking neuron for ELL/BELL/FELL)."""

    def __init__(
        self,
        channels: int,
        hw: tuple[int, int],
        n_classes: int,
        spiking: bool,
        ampl: float,
        frozen: bool,
        feedback_alignment: bool,
        gen: torch.Generator,
        neuron_type: str = "iaf",
        neuron_params: dict | None = None,
    ):
        super().__init__()
        self.pool = readout_pool(*hw)
        features = channels * (hw[0] // self.pool) * (hw[1] // self.pool)
        bound = ampl / features**0.5
        self.weight = nn.Parameter(
            (torch.rand(n_classes, features, generator=gen) * 2 - 1) * bound, requires_grad=not frozen
        )
        self.bias = nn.Parameter((torch.rand(n_classes, generator=gen) * 2 - 1) * bound, requires_grad=not frozen)
        self.feedback_alignment = feedback_alignment
        if feedback_alignment:
            self.register_buffer("feedback", (torch.rand(n_classes, features, generator=gen) * 2 - 1) / features**0.5)
        self.neuron = make_neuron(neuron_type, neuron_params) if spiking else None

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        """Pooled spikes of one step (N, C, H, W) → readout (N, K); the spiking kind feeds it to ``self.neuron``."""
        x = (F.avg_pool2d(s, self.pool) if self.pool > 1 else s).flatten(1)
        if self.feedback_alignment:
            return _LinearFA.apply(x, self.weight, self.bias, self.feedback)
        return F.linear(x, self.weight, self.bias)


class LocalRuleNet(nn.Module):
    """A :class:`SpikingCNN` plus one auxiliary readout per hidden block (training only)."""

    def __init__(
        self,
        spec: ModelSpec,
        rule: str,
        quantize: bool = True,
        feedback_alignment: bool = False,
        freeze_readouts: bool | None = None,
        seed: int = 0,
    ):
        super().__init__()
        if rule not in RULES:
            raise UsageError(f"unknown learning rule '{rule}'", fix="use one of " + ", ".join(RULES))
        self.rule = rule
        self.cnn = SpikingCNN(spec, quantize=quantize)
        frozen = rule == "decolle" if freeze_readouts is None else bool(freeze_readouts)
        self.frozen = frozen
        gen = torch.Generator().manual_seed(seed)
        shapes = spec.layer_input_shapes()[1:]  # output (C, H, W) of every block but the last
        self.readouts = nn.ModuleList(
            Readout(
                c,
                (h, w),
                spec.n_classes,
                rule != "decolle",
                0.5 if rule == "decolle" else 1.0,
                frozen,
                feedback_alignment,
                gen,
                spec.neuron_type,
                spec.neuron_params,
            )
            for c, h, w in shapes
        )

    @property
    def local_readouts(self) -> list[Readout]:
        """The readouts, typed as what they are (iterating the ``nn.ModuleList`` ``readouts`` gives ``nn.Module``)."""
        return cast("list[Readout]", list(self.readouts))

    def forward_step(
        self,
        x_t: torch.Tensor,
        y: torch.Tensor,
        states: list | None,
        dstates: list | None,
    ) -> tuple[list[torch.Tensor], list[torch.Tensor], list, list]:
        """One time step through every block: input counts (N, C, H, W) and labels → (local loss per block,
        detached outputs (N, K) per block, new neuron states, new readout-neuron states).

        ``states``/``dstates`` are ``None`` at the first step. States are detached before the step for
        DECOLLE/ELL (no gradient across time), kept for BELL/FELL.
        """
        blocks, readouts, rule = self.cnn.chip_blocks, self.local_readouts, self.rule
        states = states or [None] * len(blocks)
        dstates = dstates or [None] * len(readouts)
        target = F.one_hot(y, self.cnn.spec.n_classes).to(x_t.dtype)
        losses, outputs, new_s, new_d = [], [], [], []
        inp = x_t
        for i, block in enumerate(blocks):
            w, b = block.conv.weight, block.conv.bias
            if rule == "fell" and torch.is_grad_enabled():  # the retained graph must not see in-place updates
                w, b = w.clone(), None if b is None else b.clone()
            w, b, thr, low = block.params(self.cnn.quantize, w, b)
            current = block.current(inp.detach(), w, b)
            state = states[i] if states[i] is not None else block.neuron.init_state(current)
            if rule in ("decolle", "ell"):
                state = detach_state(state)
            spikes, state = block.neuron.step(current, state, thr, low, block.reset, block.membrane_unit(thr))
            new_s.append(state)
            out = block.pool_spikes(spikes)
            if i == len(blocks) - 1:
                z = out.flatten(1)
            else:
                ro = readouts[i]
                z = ro(out)
                if ro.neuron is not None:
                    ds = dstates[i] if dstates[i] is not None else ro.neuron.init_state(z)
                    if rule != "bell":
                        ds = detach_state(ds)
                    z, ds = ro.neuron.step(z, ds, block.threshold, block.min_v_mem, block.reset)
                    new_d.append(ds)
            loss = F.smooth_l1_loss(z, target) if rule == "decolle" else F.mse_loss(z, target)
            losses.append(loss)
            outputs.append(z.detach())
            inp = out.detach()
        return losses, outputs, new_s, new_d


class StateMeter:
    """Bytes of the tensors autograd saves for backward (distinct, parameters and buffers excluded)."""

    def __init__(self, model: nn.Module):
        self.skip = {t.data_ptr() for t in [*model.parameters(), *model.buffers()]}
        self.held: dict[tuple[int, int], int] = {}
        self.peak = 0

    def _pack(self, t: torch.Tensor) -> torch.Tensor:
        if t.data_ptr() not in self.skip:
            self.held[(t.data_ptr(), t.numel())] = t.numel() * t.element_size()
        return t

    def hooks(self):
        return torch.autograd.graph.saved_tensors_hooks(self._pack, lambda t: t)

    def bytes(self) -> int:
        return int(sum(self.held.values()))

    def release(self) -> None:
        """At a backward that frees the graph: record the peak and forget the saved tensors."""
        self.peak = max(self.peak, self.bytes())
        self.held.clear()


def bptt_state_bytes(model: SpikingCNN, x: torch.Tensor) -> int:
    """Bytes autograd saves for one BPTT forward of ``model`` on ``x`` (grows with T)."""
    meter = StateMeter(model)
    with torch.enable_grad(), meter.hooks():
        model(x)
    return meter.bytes()


def most_common(pred: torch.Tensor) -> torch.Tensor:
    """Most common class over time: (N, T) → (N,) (DECOLLE's ``prediction_mostcommon``)."""
    return torch.mode(pred, dim=1).values


def run_batch(
    net: LocalRuleNet,
    x: torch.Tensor,
    y: torch.Tensor,
    opt: torch.optim.Optimizer | None,
    burn_in: int,
    meter: StateMeter | None = None,
) -> tuple[float, list[torch.Tensor]]:
    """Run one batch (N, T, C, H, W) step by step; with ``opt`` update by the rule. Returns (Σ local losses
    over the graded steps, per block the prediction (N,) of its local readout)."""
    rule, t_len = net.rule, x.shape[1]
    states = dstates = None
    total, loss_sum, outs = None, 0.0, []
    hooks = meter.hooks() if meter is not None else torch.autograd.graph.saved_tensors_hooks(lambda t: t, lambda t: t)
    with hooks:
        for t in range(t_len):
            graded = opt is not None and t >= burn_in
            with torch.set_grad_enabled(graded):
                losses, z, states, dstates = net.forward_step(x[:, t], y, states, dstates)
            if t >= burn_in:
                outs.append(z)
                loss = torch.stack(losses).sum()
                loss_sum += float(loss.detach())
            if opt is None or t < burn_in:  # not graded
                continue
            if rule == "bell":
                total = loss if total is None else total + loss
                continue
            opt.zero_grad(set_to_none=True)
            loss.backward(retain_graph=rule == "fell")
            opt.step()
            if meter is not None and rule != "fell":
                meter.release()
        if opt is not None and total is not None:
            opt.zero_grad(set_to_none=True)
            total.backward()
            opt.step()
        if meter is not None and opt is not None:
            meter.release()
    preds = []
    for k in range(len(net.cnn.blocks)):
        seq = torch.stack([o[k] for o in outs], 1)  # (N, T', K)
        last = k == len(net.cnn.blocks) - 1
        preds.append(most_common(seq.argmax(2)) if rule == "decolle" and not last else seq.sum(1).argmax(1))
    return loss_sum, preds


@torch.no_grad()
def evaluate_local_rule(
    net: LocalRuleNet, data: FramedSplit, batch_size: int, device: torch.device, burn_in: int = 0
) -> dict[str, float]:
    """Accuracy of every block's local readout (the last block: its spike counts) on a framed split."""
    net.eval()
    correct = [0] * len(net.cnn.blocks)
    for i in range(0, len(data.labels), batch_size):
        x, y = data.frames[i : i + batch_size].to(device), data.labels[i : i + batch_size].to(device)
        _, preds = run_batch(net, x, y, None, burn_in)
        for k, p in enumerate(preds):
            correct[k] += int((p == y).sum())
    return {b.name: c / len(data.labels) for b, c in zip(net.cnn.chip_blocks, correct)}
