"""One test per design rule: a violating layer triggers exactly that code, with the exact text."""

import numpy as np
import pytest

from qsnn_deploy.errors import InputError
from qsnn_deploy.hw import RULES, Core, Profile, check, load_profile
from qsnn_deploy.hw.rules import Violation
from qsnn_deploy.ir import ChipLayer, Network


def only(violations, code):
    assert {v.code for v in violations} == {code}, [v.code for v in violations]
    return [(v.layer, v.message, v.fix) for v in violations]


def test_every_rule_has_a_unique_code_and_name():
    assert len({r.name for r in RULES.values()}) == len(RULES)
    prefixes = {"layer-per-core": "SPK", "neuron-cores": "LOI"}
    assert all(code.startswith(prefixes[r.architecture]) and len(code) == 6 for code, r in RULES.items())


def test_valid_network_has_no_violations(nmnist_net, speck2f):
    assert check(nmnist_net, speck2f) == []


def test_spk001_square_kernel(layers, speck2f):
    net = layers.chain(layers.conv("conv1", 2, 8, (3, 5), (16, 16)))
    assert only(check(net, speck2f), "SPK001") == [
        (
            "conv1",
            "kernel 3×5 is not square; the chip supports square kernels only",
            "use a square 5×5 kernel in conv1 (zero-pad the 3×5 weights)",
        )
    ]


def test_spk002_kernel_size(layers, speck2f):
    net = layers.chain(layers.conv("conv1", 2, 4, 17, (32, 32)))
    assert only(check(net, speck2f), "SPK002") == [
        ("conv1", "kernel 17×17 exceeds the maximum 16×16", "use a kernel of at most 16×16 in conv1")
    ]


def test_spk002_kernel_size_of_a_linear_layer_suggests_pooling(layers, speck2f):
    net = layers.chain(layers.linear("fc", (4, 20, 20), 10))
    assert only(check(net, speck2f), "SPK002") == [
        ("fc", "kernel 20×20 exceeds the maximum 16×16", "add a 2×2 sum-pool before fc (20×20 → 10×10 input)")
    ]


def test_spk003_stride(layers, speck2f):
    net = layers.chain(layers.conv("conv1", 2, 4, 3, (32, 32), stride=3))
    assert only(check(net, speck2f), "SPK003") == [
        ("conv1", "stride 3 is not supported (allowed: 1, 2, 4, 8)", "use stride 2 in conv1")
    ]


def test_spk004_padding(layers, speck2f):
    net = layers.chain(layers.conv("conv1", 2, 4, 3, (16, 16), padding=8))
    assert only(check(net, speck2f), "SPK004") == [
        ("conv1", "padding 8 is outside the supported range 0–7", "use padding 7 in conv1")
    ]


def test_spk005_pooling(layers, speck2f):
    net = layers.chain(layers.conv("conv1", 2, 4, 3, (18, 18), padding=1, pool=3))
    assert only(check(net, speck2f), "SPK005") == [
        ("conv1", "sum-pool 3×3 is not supported (allowed: 1, 2, 4)", "use a 2×2 sum-pool after conv1")
    ]


def test_spk006_channels_out_and_in(layers, speck2f):
    net = layers.chain(layers.conv("conv1", 2, 2048, 1, (1, 1)), layers.conv("conv2", 2048, 4, 1, (1, 1)))
    assert only(check(net, speck2f), "SPK006") == [
        ("conv1", "2048 output channels exceed the maximum 1024", "reduce out_channels of conv1 (2048 → 1024)"),
        ("conv2", "2048 input channels exceed the maximum 1024", "reduce out_channels of conv1 (2048 → 1024)"),
    ]


def test_spk007_input_size(layers, speck2f):
    net = layers.chain(layers.conv("conv1", 2, 2, 3, (130, 130), stride=4))
    assert only(check(net, speck2f), "SPK007") == [
        ("conv1", "input 130×130 exceeds the maximum 128×128", "sum-pool the input by 2 (130×130 → 65×65)")
    ]


def test_spk008_output_size_applies_to_the_convolution_output(layers, speck2f):
    net = layers.chain(layers.conv("conv1", 2, 2, 1, (65, 65), pool=2))  # pooled output 32×32 is not enough
    assert only(check(net, speck2f), "SPK008") == [
        ("conv1", "convolution output 65×65 exceeds the maximum 64×64", "use stride 2 in conv1 (output 65×65 → 33×33)")
    ]


def test_spk009_kernel_memory(layers, speck2f):
    net = layers.chain(layers.conv("conv1", 128, 64, 3, (3, 3)))
    assert only(check(net, speck2f), "SPK009") == [
        (
            "conv1",
            "needs 131072 (128 Ki) kernel words (128 × 16 × 64: kernel size and out_channels rounded up "
            "to powers of two) but the largest core has 65536 (64 Ki)",
            "halve out_channels of conv1 (64 → 32)",
        )
    ]


def test_spk010_neuron_memory(layers, speck2f):
    net = layers.chain(layers.conv("conv1", 2, 32, 3, (64, 64), padding=1))
    assert only(check(net, speck2f), "SPK010") == [
        (
            "conv1",
            "needs 131072 (128 Ki) neuron words (32 × 64 × 64: the 64×64 output rounded up to powers of two) "
            "but the largest core has 65536 (64 Ki)",
            "halve out_channels of conv1 (32 → 16) or add a 2×2 sum-pool before it (64×64 → 32×32 input)",
        )
    ]


def test_spk011_bias_memory(layers):
    # On Speck bias words = channels <= 1024, so SPK006 would fire too; a small made-up chip isolates the rule.
    tiny = Profile("tiny", cores=(Core(0, 65536, 65536, 512),))
    net = layers.chain(layers.conv("conv1", 2, 600, 1, (1, 1), bias=True))
    assert only(check(net, tiny), "SPK011") == [
        (
            "conv1",
            "needs 600 bias words but the largest core has 512",
            "reduce out_channels of conv1 (600 → 512) or drop the bias of conv1",
        )
    ]


def test_spk012_memory_combination(layers, speck2f):
    net = layers.chain(layers.conv("conv1", 32, 48, 3, (20, 20), padding=1))  # kernel 32 Ki, neuron 48 Ki
    assert only(check(net, speck2f), "SPK012") == [
        (
            "conv1",
            "needs 32768 (32 Ki) kernel, 49152 (48 Ki) neuron and 0 bias words: each fits some core but no "
            "single core holds all three (closest: core 3 with 32768 (32 Ki) kernel and 32768 (32 Ki) neuron words)",
            "reduce out_channels of conv1 (48 → 32) or add a 2×2 sum-pool before it (20×20 → 10×10 input) "
            "so that conv1 fits core 3",
        )
    ]


def test_spk013_core_count(layers, speck2f):
    net = layers.chain(*[layers.conv(f"c{i}", 2, 2, 3, (16, 16), padding=1) for i in range(10)])
    assert only(check(net, speck2f), "SPK013") == [
        (None, "the network has 10 layers but speck2f has 9 cores (one layer per core)", "remove or merge 1 layer")
    ]


def test_spk014_core_mapping_names_the_competing_layers(layers, speck2f):
    # four layers that each need a 64 Ki-neuron core; only cores 0, 1, 2 have one
    net = layers.chain(
        layers.conv("conv1", 2, 16, 3, (64, 64), padding=1),
        *[layers.conv(f"conv{i}", 16, 16, 3, (64, 64), padding=1) for i in (2, 3, 4)],
    )
    assert only(check(net, speck2f), "SPK014") == [
        (
            None,
            "layers conv1, conv2, conv3, conv4 can only use cores 0, 1, 2: 4 layers compete for 3 cores",
            "halve out_channels of conv4 (16 → 8) or add a 2×2 sum-pool before it (64×64 → 32×32 input) so that "
            "conv4 fits core 3 (32768 (32 Ki) kernel, 32768 (32 Ki) neuron words)",
        )
    ]


def test_all_violations_are_reported_in_layer_order(layers, speck2f):
    net = layers.chain(
        layers.conv("conv1", 2, 64, 3, (128, 128), padding=1, pool=3),
        layers.conv("conv2", 64, 8, (3, 5), (42, 42), stride=3),
    )
    got = [(v.layer, v.code) for v in check(net, speck2f)]
    assert got == [
        ("conv1", "SPK005"),
        ("conv1", "SPK008"),
        ("conv1", "SPK010"),
        ("conv2", "SPK001"),
        ("conv2", "SPK003"),
    ]


def test_rules_without_a_limit_in_the_profile_are_skipped(layers):
    free = Profile("free", cores=(Core(0, 10**9, 10**9, 10**9),))
    net = layers.chain(layers.conv("conv1", 2, 4, (3, 5), (200, 200), stride=3, padding=9, pool=3))
    assert check(net, free) == []


def test_violation_to_dict():
    v = Violation("SPK003", "stride", "conv1", "m", "f")
    assert v.to_dict() == {"code": "SPK003", "rule": "stride", "layer": "conv1", "message": "m", "fix": "f"}


def test_every_registered_rule_has_a_test_here():
    tested = {name.split("_")[1].upper() for name in globals() if name.startswith(("test_spk", "test_loi"))}
    assert tested == set(RULES)


def test_spk015_destinations(layers, speck2f):
    convs = [layers.conv(f"conv{i}", 2, 2, 1, (8, 8)) for i in range(1, 5)]
    convs[0] = convs[0].replace(destinations=("conv2", "conv3", "conv4"))
    assert only(check(layers.chain(*convs), speck2f), "SPK015") == [
        (
            "conv1",
            "sends its output to 3 layers (conv2, conv3, conv4) but a core has 2 destinations (the chip's limit)",
            "insert a 1×1 relay layer (identity weights, threshold 1) fed by conv1 that sends on to conv3, conv4, "
            "and keep conv2 as conv1's other destination; or duplicate conv1 onto a free core (same weights and "
            "input) and send conv4 from the copy",
        )
    ]
    convs[0] = convs[0].replace(destinations=("conv2", "conv4"))
    assert check(layers.chain(*convs), speck2f) == []


def test_spk015_fix_keeps_every_relay_and_copy_within_the_limit(layers, speck2f):
    import dataclasses

    convs = [layers.conv(f"conv{i}", 2, 2, 1, (8, 8)) for i in range(1, 7)]
    convs[0] = convs[0].replace(destinations=("conv2", "conv3", "conv4", "conv5", "conv6"))
    [(_, message, fix)] = only(check(layers.chain(*convs), speck2f), "SPK015")
    assert message.startswith("sends its output to 5 layers")
    assert fix == (
        "insert 3 chained 1×1 relay layers (identity weights, threshold 1; each sends to up to 2 layers, one of them "
        "the next relay) fed by conv1 that carry its spikes on to conv3, conv4, conv5, conv6, and keep conv2 as "
        "conv1's other destination; or duplicate conv1 onto 2 free cores (same weights and input) and send conv4, "
        "conv5, conv6 from the copies"
    )
    one = dataclasses.replace(speck2f, constraints=dataclasses.replace(speck2f.constraints, destinations=1))
    two = [convs[0].replace(destinations=("conv2", "conv3")), *convs[1:3]]
    [(_, _, fix)] = only(check(layers.chain(*two), one), "SPK015")
    assert (
        fix == "duplicate conv1 onto 1 free core (same weights and input) and send to conv3 from the copies, one each"
    )


def test_spk016_iaf_only(layers, speck2f):
    net = layers.chain(layers.conv("conv1", 2, 4, 3, (16, 16), neuron="lif"))
    assert only(check(net, speck2f), "SPK016") == [
        (
            "conv1",
            "uses LIF neurons; the chip's cores run integrate-and-fire (IAF) neurons only",
            "replace the LIF neurons of conv1 by IAF neurons and fine-tune",
        )
    ]


UNSUPPORTED = (("pool1", "MaxPool2d"), ("bn1", "BatchNorm2d"), ("drop", "Dropout"), ("act", "GELU"))


def test_spk017_unsupported_modules(layers, speck2f):
    net = Network((layers.conv("conv1", 2, 4, 3, (16, 16)),), (2, 16, 16), unsupported=UNSUPPORTED)
    assert only(check(net, speck2f), "SPK017") == [
        (
            "pool1",
            "node pool1 (MaxPool2d) has no place in a core (conv → IAF → sum-pool)",
            "replace pool1 by a sum-pool of the same size (or AvgPool, scaled by k² on the chip) and fine-tune",
        ),
        (
            "bn1",
            "node bn1 (BatchNorm2d) has no place in a core (conv → IAF → sum-pool)",
            "fold bn1 into the convolution before it (w·γ/σ, bias (b − μ)·γ/σ + β) before converting",
        ),
        (
            "drop",
            "node drop (Dropout) has no place in a core (conv → IAF → sum-pool)",
            "remove drop (it does nothing at inference)",
        ),
        (
            "act",
            "node act (GELU) has no place in a core (conv → IAF → sum-pool)",
            "remove act or replace it by a supported operation (Conv2d, Linear, SumPool2d/AvgPool2d, Flatten, IAF)",
        ),
    ]


# --- neuron-cores (Loihi) rules --------------------------------------------------------------------------


def test_speck_rules_do_not_apply_to_loihi_and_back(layers):
    # a 5×3 kernel, stride 3 and LIF neurons are fine on Loihi; fan-in 2·15 is tiny
    net = layers.chain(layers.conv("conv1", 2, 4, (5, 3), (30, 30), stride=3, neuron="lif"))
    assert check(net, load_profile("loihi")) == []
    assert {v.code for v in check(net, load_profile("speck2f"))} == {"SPK001", "SPK003", "SPK016"}


def test_loi001_weight_bits():
    w = np.zeros((2, 1, 1, 1))
    w[0, 0, 0, 0], w[1, 0, 0, 0] = 200, -5  # needs 9 bits; Loihi 2 stores 8
    net = Network((ChipLayer("conv1", w, (1, 4, 4), scale=1.0),), (1, 4, 4))
    assert only(check(net, load_profile("loihi2")), "LOI001") == [
        (
            "conv1",
            "weights need 9 bits (largest |w| = 200) but the chip stores 8-bit weights",
            "re-discretise conv1 to 8-bit weights (one scale per layer)",
        )
    ]
    assert check(net, load_profile("loihi")) == []  # Loihi 1 stores up to 9 bits


def test_loi002_fan_in(layers):
    net = layers.chain(layers.conv("conv1", 512, 4, 3, (8, 8)))  # 512·9 = 4608 inputs per neuron
    assert only(check(net, load_profile("loihi")), "LOI002") == [
        (
            "conv1",
            "each neuron has 4608 inputs (512 channels × 3×3 kernel) but a core receives at most 4096 input axons",
            "reduce the input channels of conv1 (512 → 455)",
        )
    ]


def test_loi002_fan_in_counts_the_folded_sum_pool(layers):
    net = layers.chain(layers.conv("conv1", 2, 128, 1, (8, 8), pool=2), layers.conv("conv2", 128, 2, 3, (4, 4)))
    # conv2: 128 channels × 9 × (2×2 pool) = 4608 inputs
    assert only(check(net, load_profile("loihi")), "LOI002") == [
        (
            "conv2",
            "each neuron has 4608 inputs (128 channels × 3×3 kernel × 2×2 folded sum-pool) but a core receives "
            "at most 4096 input axons",
            "reduce out_channels of conv1 (128 → 113)",
        )
    ]


def test_loi003_synaptic_memory(layers):
    # Loihi 2: 196608 B per core, no fan-in limit; one neuron with 2048·100 inputs of 8 bits needs 204800 B
    net = layers.chain(layers.linear("fc", (2048, 10, 10), 1))
    assert only(check(net, load_profile("loihi2")), "LOI003") == [
        (
            "fc",
            "one neuron's 204800 synapses × 8 bits need 204800 bytes but a core has 196608 bytes of synaptic memory",
            "reduce the input channels of fc (2048 → 1966)",
        )
    ]


def test_loi004_core_budget(layers):
    net = layers.chain(layers.conv("conv1", 2, 64, 1, (128, 128)))  # 64·128·128 neurons = 1024 cores of 1024
    assert only(check(net, load_profile("loihi")), "LOI004") == [
        (
            None,
            "the network needs 1024 cores (conv1 1024) but loihi has 128",
            "halve out_channels of conv1 (64 → 32), which alone uses 1024 cores",
        )
    ]


def test_loi005_unsupported_nodes(layers):
    net = Network((layers.conv("conv1", 2, 4, 3, (16, 16)),), (2, 16, 16), unsupported=UNSUPPORTED[:1])
    assert only(check(net, load_profile("loihi")), "LOI005") == [
        (
            "pool1",
            "node pool1 (MaxPool2d) has no equivalent on the chip",
            "replace pool1 by a sum-pool of the same size (or AvgPool, scaled by k² on the chip) and fine-tune",
        )
    ]


# --- the IR fields these rules read -----------------------------------------------------------------------


def test_ir_fields_default_to_a_plain_iaf_chain(layers):
    layer = layers.conv("conv1", 2, 4, 3, (16, 16))
    assert layer.neuron == "iaf" and layer.destinations is None
    assert Network((layer,), (2, 16, 16)).unsupported == ()


def test_ir_refuses_unknown_destinations_and_empty_neuron(layers):
    with pytest.raises(InputError, match="destination conv9 is not a layer of the network"):
        Network((layers.conv("conv1", 2, 4, 3, (16, 16), destinations=("conv9",)),), (2, 16, 16))
    with pytest.raises(InputError, match="neuron model must be a non-empty name"):
        layers.conv("conv1", 2, 4, 3, (16, 16), neuron="")
