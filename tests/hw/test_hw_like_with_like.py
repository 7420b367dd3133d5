"""Several targets side by side compare like with like (issue 15, item 7): every row says what its power and
energy include, dynamic energy per inference is the figure all targets share, and a total is given only
where it is known (a profile without static power has none: ``n/a``, never its dynamic part)."""

import json

import pytest
from test_hw_golden import GOLDEN, digits_speck_network

from qsnn_deploy.hw import estimate, list_profiles, load_profile
from qsnn_deploy.hw.report import (
    format_comparison_json,
    format_comparison_markdown,
    format_comparison_table,
    format_json,
    format_table,
)

NAMES = ("speck2f", "loihi2", "generic-45nm")


@pytest.fixture(scope="module")
def demo():
    """The golden digits_speck network and its fixed activity (300 ms samples)."""
    doc = json.loads(GOLDEN.read_text())
    return digits_speck_network(), doc["activity"], doc["sample_duration_s"]


def run(demo, names=NAMES, **kw):
    net, act, duration = demo
    return [
        estimate(net, load_profile(n), act["synops"], duration, spikes_per_layer=act["spikes"], **kw) for n in names
    ]


def row(table: str, target: str) -> str:
    return next(line for line in table.splitlines() if line.startswith(target + " "))


def test_the_accelerator_without_static_power_has_no_total(demo):
    speck, loihi, generic = run(demo)
    assert generic.power_w is None and generic.energy_per_inference_j is None and generic.includes == ()
    assert generic.total_unknown == "no static power in profile"
    assert generic.dynamic_energy_per_inference_j == pytest.approx(generic.macs * 4.6e-12)
    for est in (speck, loihi):
        assert est.includes == ("static", "dynamic") and est.total_unknown is None
        static, dynamic = est.energy_part("static"), est.energy_part("dynamic")
        assert static.energy_per_inference_j == pytest.approx(est.power_static_w * 0.3)
        assert est.energy_per_inference_j == pytest.approx(
            static.energy_per_inference_j + dynamic.energy_per_inference_j
        )
        assert dynamic.energy_per_inference_j == pytest.approx(est.dynamic_energy_per_inference_j)


def test_side_by_side_table_compares_dynamic_energy_and_marks_unknown_totals(demo):
    table = format_comparison_table(run(demo))
    header = table.splitlines()[2]
    assert [
        h for h in ("dynamic energy/inf.", "total power", "total energy/inf.", "totals include") if h in header
    ] == ["dynamic energy/inf.", "total power", "total energy/inf.", "totals include"]
    generic = row(table, "generic-45nm")
    assert "9.25 µJ" in generic and generic.count("n/a") == 3 and "n/a (no static power in profile)" in generic
    assert "30.8 µW" not in generic  # the dynamic power is not shown where a total would be
    speck = row(table, "speck2f")
    assert "11.7 µJ" in speck and "459 µW" in speck and "138 µJ" in speck and "static + dynamic" in speck
    assert "Compare the dynamic energy per inference: every target has it." in table
    assert "over the 300 ms sample" in table and "the total is unknown, not small" in table


def test_each_report_says_what_its_figures_include(demo):
    speck, _, generic = run(demo)
    lines = dict(
        line.split("  ", 1)
        for line in format_table(speck).splitlines()
        if line.startswith(("Power ", "Energy / inference", "Totals include"))
    )
    assert lines["Energy / inference"].strip() == "138 µJ (static 126 µJ + dynamic 11.7 µJ)"
    assert lines["Totals include"].strip() == "static (resting) + dynamic; not the sensor (--sensor adds it)"
    text = format_table(generic)
    assert "Power               total n/a (no static power in profile); dynamic 30.8 µW" in text
    assert "Energy / inference  total n/a (no static power in profile); dynamic 9.25 µJ" in text
    assert (
        "Totals include      no total (no static power in profile): only the dynamic part is known; compare "
        "targets on it"
    ) in text


def test_json_keeps_the_design_fields_and_says_what_they_include(demo):
    data = json.loads(format_comparison_json(run(demo)))
    speck, generic = data[0], data[2]
    for d in data:  # DESIGN.md §3 fields are all there
        assert {
            "target",
            "fits",
            "layers",
            "violations",
            "synops",
            "synops_per_s",
            "power_w",
            "energy_per_inference_j",
            "latency_s",
        } <= set(d) and d["schema_version"] == 3
    assert speck["includes"] == ["static", "dynamic"] and speck["total_unknown_reason"] is None
    assert speck["energy_per_inference_j"] == pytest.approx(
        speck["energy_breakdown"]["static"]["energy_per_inference_j"]
        + speck["energy_breakdown"]["dynamic"]["energy_per_inference_j"]
    )
    assert speck["energy_breakdown"]["sensor"] == {
        "status": "not requested",
        "power_w": None,
        "power_w_range": None,
        "energy_per_inference_j": None,
    }
    assert generic["power_w"] is None and generic["energy_per_inference_j"] is None and generic["includes"] == []
    assert generic["total_unknown_reason"] == "no static power in profile"
    assert generic["energy_breakdown"]["static"]["status"] == "not in profile"
    assert generic["energy_breakdown"]["dynamic"]["energy_per_inference_j"] == pytest.approx(
        generic["dynamic_energy_per_inference_j"]
    )
    assert json.loads(format_json(run(demo, ("generic-45nm",))[0]))["power_w"] is None


def test_sensor_is_in_the_total_only_where_asked_and_known(demo):
    speck, loihi = run(demo, ("speck2f", "loihi"), include_sensor=True)
    assert speck.includes == ("static", "dynamic", "sensor")
    assert speck.energy_part("sensor").energy_per_inference_j == pytest.approx(6.898e-4 * 0.3)
    assert loihi.includes == ("static", "dynamic") and loihi.energy_part("sensor").status == "not in profile"
    table = format_comparison_table([speck, loihi])
    assert "static + dynamic + sensor" in row(table, "speck2f")


def test_without_activity_nothing_is_called_a_total(demo):
    net, _, duration = demo
    ests = [estimate(net, load_profile(n), None, duration) for n in ("speck2f", "loihi")]
    for est in ests:
        assert est.power_w is None and est.total_unknown == "activity not measured" and est.includes == ()
        assert est.energy_part("dynamic").status == "activity unknown"
    speck = row(format_comparison_table(ests), "speck2f")
    assert "n/a (activity not measured)" in speck and " — " in speck
    assert "Power               — (activity not measured; static (resting) alone: 420 µW)" in format_table(ests[0])


@pytest.mark.parametrize("name", list_profiles())
def test_a_total_exactly_where_the_profile_gives_static_power(demo, name):
    est = run(demo, (name,))[0]
    has_static = load_profile(name).static_power is not None
    assert (est.power_w is not None) == has_static
    assert est.dynamic_energy_per_inference_j is not None and est.dynamic_energy_per_inference_j > 0


def test_markdown_side_by_side(demo):
    md = format_comparison_markdown(run(demo))
    assert "| target | architecture | fits | cores | work/inference | dynamic energy/inf. | total power |" in md
    assert "| n/a | n/a | n/a (no static power in profile) |" in md
    assert "Compare the dynamic energy per inference" in md


def test_plot_shows_totals_only_where_known(demo):
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from qsnn_deploy.hw.plot import _energy_across

    fig, ax = plt.subplots()
    _energy_across(ax, run(demo))
    texts = [t.get_text() for t in ax.texts]
    plt.close(fig)
    assert texts.count("total\nn/a") == 1 and "138 µJ" in texts and "9.25 µJ" in texts
    assert "total n/a — generic-45nm: no static power in profile" in texts
