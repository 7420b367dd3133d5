"""Closed-loop SynOp target: with a SynOp goal, the loss's target is corrected after each epoch from the SynOps
the network measures on the validation split, until they sit just under the goal.

The target form ``((S − T)/T)²`` balances the task and distillation terms: SynOps settle where the pulls meet,
some way above ``T`` (about 45 % above it on digits-dvs with distillation, differently per seed), so an
open-loop target meets a goal on some seeds and misses it on others. Once the annealed target has reached its end
(``--synop-anneal``), each epoch multiplies a correction ``c`` by ``(wanted / measured)^gain``, at most
:data:`STEP` either way, and the loss's target is ``c × the scheduled target``; ``wanted`` is :data:`AIM` × the
goal, under the 0.98 × goal an epoch must meet to be kept (the split's spread).
"""

from __future__ import annotations

from dataclasses import dataclass

#: the validation SynOps per sample the loop steers to, as a share of the goal (an epoch is kept at ≤ 0.98 ×)
AIM = 0.97
#: the most the correction changes in one epoch (× or ÷)
STEP = 1.25
#: bounds of the correction
LOWEST, HIGHEST = 0.2, 5.0


@dataclass
class SynOpControl:
    """The correction of the loss's SynOp target. ``goal``: SynOps per sample to stay under (validation split);
    ``hold_from``: the first epoch the scheduled target holds its end value (the loop acts from then on);
    ``gain``: exponent of the correction (0: open loop)."""

    goal: float
    hold_from: int
    gain: float = 1.0
    correction: float = 1.0

    def target(self, scheduled: float) -> float:
        """The loss's target this epoch: the scheduled one times the correction."""
        return self.correction * scheduled

    def update(self, epoch: int, measured: float) -> None:
        """After ``epoch``: steer the correction by the validation SynOps per sample ``measured``."""
        if self.gain <= 0 or epoch < self.hold_from or not measured > 0:
            return
        step = min(STEP, max(1 / STEP, (AIM * self.goal / measured) ** self.gain))
        self.correction = min(HIGHEST, max(LOWEST, self.correction * step))
