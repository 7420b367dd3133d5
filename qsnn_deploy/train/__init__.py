"""Training: ``train(TrainConfig(...), out)`` trains a network into a run folder with one of four methods.

Where to look:

- what a run depends on: :mod:`.config` (:class:`TrainConfig`, whose fields are the options of
  ``qsnn-deploy train``), its checks :mod:`.checks`;
- the entry and the registry of methods: :mod:`.trainer` (``train``, ``resume``, ``train_seeds``, ``METHODS``);
- the methods: :mod:`.bptt` (surrogate-gradient BPTT, quantisation-aware), :mod:`.ann_synop` (floor-ReLU ANN,
  network in :mod:`.ann_net`), :mod:`.integer_only` (integer-only local learning; :mod:`.integer_net`,
  :mod:`.integer_bits`, :mod:`.integer_memory`), :mod:`.local_rules` (DECOLLE, ELL, BELL, FELL; :mod:`.local_net`);
- what they share: the epoch skeleton :mod:`.loop`, the run folder :mod:`.runs`, the data :mod:`.splits`,
  :mod:`.evaluation`, :mod:`.plots`, :mod:`.device` (device and random states), :mod:`.early_stopping`,
  :mod:`.resume`, :mod:`.distributed` (data-parallel);
- BPTT's parts: :mod:`.losses`, :mod:`.schedules`, :mod:`.augment`, :mod:`.pretrained` (``--init``,
  ``--distill``), :mod:`.weight_bits` (mixed precision, ``--bits auto`` with :mod:`.hessian` and
  :mod:`.allocate`);
- around training: :mod:`.sweep` (accuracy against SynOps), :mod:`.weight_scaling`, :mod:`.pattern_task`.

``TrainConfig`` imports without torch; ``train``, ``resume`` and ``train_seeds`` load it on first use.
"""

from typing import TYPE_CHECKING

from ..lazy import lazy_exports
from .config import TrainConfig

if TYPE_CHECKING:
    from .trainer import METHODS, resume, train, train_seeds

__all__ = ["METHODS", "TrainConfig", "resume", "train", "train_seeds"]
__getattr__, __dir__ = lazy_exports(
    __name__, {"METHODS": ".trainer", "resume": ".trainer", "train": ".trainer", "train_seeds": ".trainer"}
)
