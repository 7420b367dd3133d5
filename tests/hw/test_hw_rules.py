"""One test per design rule: a violating layer triggers exactly that code, with the exact text."""

from qsnn_deploy.hw import RULES, Core, Profile, check
from qsnn_deploy.hw.rules import Violation


def only(violations, code):
    assert {v.code for v in violations} == {code}, [v.code for v in violations]
    return [(v.layer, v.message, v.fix) for v in violations]


def test_every_rule_has_a_unique_code_and_name():
    assert len({r.name for r in RULES.values()}) == len(RULES)
    assert all(code.startswith("SPK") and len(code) == 6 for code in RULES)


def test_valid_network_has_no_violations(nmnist_net, speck2f):
    assert check(nmnist_net, speck2f) == []


def test_spk001_square_kernel(layers, speck2f):
    net = layers.chain(layers.conv("conv1", 2, 8, (3, 5), (16, 16)))
    assert only(check(net, speck2f), "SPK001") == [(
        "conv1", "kernel 3×5 is not square; the chip supports square kernels only",
        "use a square 5×5 kernel in conv1 (zero-pad the 3×5 weights)")]


def test_spk002_kernel_size(layers, speck2f):
    net = layers.chain(layers.conv("conv1", 2, 4, 17, (32, 32)))
    assert only(check(net, speck2f), "SPK002") == [(
        "conv1", "kernel 17×17 exceeds the maximum 16×16", "use a kernel of at most 16×16 in conv1")]


def test_spk002_kernel_size_of_a_linear_layer_suggests_pooling(layers, speck2f):
    net = layers.chain(layers.linear("fc", (4, 20, 20), 10))
    assert only(check(net, speck2f), "SPK002") == [(
        "fc", "kernel 20×20 exceeds the maximum 16×16", "add a 2×2 sum-pool before fc (20×20 → 10×10 input)")]


def test_spk003_stride(layers, speck2f):
    net = layers.chain(layers.conv("conv1", 2, 4, 3, (32, 32), stride=3))
    assert only(check(net, speck2f), "SPK003") == [(
        "conv1", "stride 3 is not supported (allowed: 1, 2, 4, 8)", "use stride 2 in conv1")]


def test_spk004_padding(layers, speck2f):
    net = layers.chain(layers.conv("conv1", 2, 4, 3, (16, 16), padding=8))
    assert only(check(net, speck2f), "SPK004") == [(
        "conv1", "padding 8 is outside the supported range 0–7", "use padding 7 in conv1")]


def test_spk005_pooling(layers, speck2f):
    net = layers.chain(layers.conv("conv1", 2, 4, 3, (18, 18), padding=1, pool=3))
    assert only(check(net, speck2f), "SPK005") == [(
        "conv1", "sum-pool 3×3 is not supported (allowed: 1, 2, 4)", "use a 2×2 sum-pool after conv1")]


def test_spk006_channels_out_and_in(layers, speck2f):
    net = layers.chain(layers.conv("conv1", 2, 2048, 1, (1, 1)), layers.conv("conv2", 2048, 4, 1, (1, 1)))
    assert only(check(net, speck2f), "SPK006") == [
        ("conv1", "2048 output channels exceed the maximum 1024", "reduce out_channels of conv1 (2048 → 1024)"),
        ("conv2", "2048 input channels exceed the maximum 1024", "reduce out_channels of conv1 (2048 → 1024)"),
    ]


def test_spk007_input_size(layers, speck2f):
    net = layers.chain(layers.conv("conv1", 2, 2, 3, (130, 130), stride=4))
    assert only(check(net, speck2f), "SPK007") == [(
        "conv1", "input 130×130 exceeds the maximum 128×128", "sum-pool the input by 2 (130×130 → 65×65)")]


def test_spk008_output_size_applies_to_the_convolution_output(layers, speck2f):
    net = layers.chain(layers.conv("conv1", 2, 2, 1, (65, 65), pool=2))  # pooled output 32×32 is not enough
    assert only(check(net, speck2f), "SPK008") == [(
        "conv1", "convolution output 65×65 exceeds the maximum 64×64",
        "use stride 2 in conv1 (output 65×65 → 33×33)")]


def test_spk009_kernel_memory(layers, speck2f):
    net = layers.chain(layers.conv("conv1", 128, 64, 3, (3, 3)))
    assert only(check(net, speck2f), "SPK009") == [(
        "conv1", "needs 131072 (128 Ki) kernel words (128 × 16 × 64: kernel size and out_channels rounded up "
        "to powers of two) but the largest core has 65536 (64 Ki)", "halve out_channels of conv1 (64 → 32)")]


def test_spk010_neuron_memory(layers, speck2f):
    net = layers.chain(layers.conv("conv1", 2, 32, 3, (64, 64), padding=1))
    assert only(check(net, speck2f), "SPK010") == [(
        "conv1", "needs 131072 (128 Ki) neuron words (32 × 64 × 64: the 64×64 output rounded up to powers of two) "
        "but the largest core has 65536 (64 Ki)",
        "halve out_channels of conv1 (32 → 16) or add a 2×2 sum-pool before it (64×64 → 32×32 input)")]


def test_spk011_bias_memory(layers):
    # On Speck bias words = channels <= 1024, so SPK006 would fire too; a small made-up chip isolates the rule.
    tiny = Profile("tiny", cores=(Core(0, 65536, 65536, 512),))
    net = layers.chain(layers.conv("conv1", 2, 600, 1, (1, 1), bias=True))
    assert only(check(net, tiny), "SPK011") == [(
        "conv1", "needs 600 bias words but the largest core has 512",
        "reduce out_channels of conv1 (600 → 512) or drop the bias of conv1")]


def test_spk012_memory_combination(layers, speck2f):
    net = layers.chain(layers.conv("conv1", 32, 48, 3, (20, 20), padding=1))  # kernel 32 Ki, neuron 48 Ki
    assert only(check(net, speck2f), "SPK012") == [(
        "conv1", "needs 32768 (32 Ki) kernel, 49152 (48 Ki) neuron and 0 bias words: each fits some core but no "
        "single core holds all three (closest: core 3 with 32768 (32 Ki) kernel and 32768 (32 Ki) neuron words)",
        "reduce out_channels of conv1 (48 → 32) or add a 2×2 sum-pool before it (20×20 → 10×10 input) "
        "so that conv1 fits core 3")]


def test_spk013_core_count(layers, speck2f):
    net = layers.chain(*[layers.conv(f"c{i}", 2, 2, 3, (16, 16), padding=1) for i in range(10)])
    assert only(check(net, speck2f), "SPK013") == [(
        None, "the network has 10 layers but speck2f has 9 cores (one layer per core)", "remove or merge 1 layer")]


def test_spk014_core_mapping_names_the_competing_layers(layers, speck2f):
    # four layers that each need a 64 Ki-neuron core; only cores 0, 1, 2 have one
    net = layers.chain(layers.conv("conv1", 2, 16, 3, (64, 64), padding=1),
                       *[layers.conv(f"conv{i}", 16, 16, 3, (64, 64), padding=1) for i in (2, 3, 4)])
    assert only(check(net, speck2f), "SPK014") == [(
        None, "layers conv1, conv2, conv3, conv4 can only use cores 0, 1, 2: 4 layers compete for 3 cores",
        "halve out_channels of conv4 (16 → 8) or add a 2×2 sum-pool before it (64×64 → 32×32 input) so that "
        "conv4 fits core 3 (32768 (32 Ki) kernel, 32768 (32 Ki) neuron words)")]


def test_all_violations_are_reported_in_layer_order(layers, speck2f):
    net = layers.chain(layers.conv("conv1", 2, 64, 3, (128, 128), padding=1, pool=3),
                       layers.conv("conv2", 64, 8, (3, 5), (42, 42), stride=3))
    got = [(v.layer, v.code) for v in check(net, speck2f)]
    assert got == [("conv1", "SPK005"), ("conv1", "SPK008"), ("conv1", "SPK010"),
                   ("conv2", "SPK001"), ("conv2", "SPK003")]


def test_rules_without_a_limit_in_the_profile_are_skipped(layers):
    free = Profile("free", cores=(Core(0, 10**9, 10**9, 10**9),))
    net = layers.chain(layers.conv("conv1", 2, 4, (3, 5), (200, 200), stride=3, padding=9, pool=3))
    assert check(net, free) == []


def test_violation_to_dict():
    v = Violation("SPK003", "stride", "conv1", "m", "f")
    assert v.to_dict() == {"code": "SPK003", "rule": "stride", "layer": "conv1", "message": "m", "fix": "f"}


def test_every_registered_rule_has_a_test_here():
    tested = {name.split("_")[1].upper() for name in globals() if name.startswith("test_spk")}
    assert tested == set(RULES)
