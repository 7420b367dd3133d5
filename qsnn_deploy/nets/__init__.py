"""Network definitions that convert and train share: model specs and the zoo, the spiking torch model, neurons.

- :mod:`.zoo`: model specs (one YAML per architecture in ``models/``), their checks and recipes; no torch.
- :mod:`.network`: ``SpikingCNN``, the QAT torch model built from a spec, and its export to ``ir.Network``.
- :mod:`.neurons`: the neuron models (IAF, LIF, ...) with their surrogate gradients.
- :mod:`.checkpoint`: reading and writing ``checkpoint.pt`` safely (``weights_only``).

Below ``convert`` and ``train`` in the dependency order (DESIGN.md §2); imports nothing above ``emulate``.
"""
