"""The Hypothesis set-up of tests/conftest.py: `make test` is derandomized, `make fuzz` draws many more examples,
and every property test carries the ``property`` marker that `make fuzz` selects."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from qsnn_deploy.quant.scale import usable_divisor

ROOT = Path(__file__).resolve().parents[1]
RECORD = "QSNN_TEST_RECORD_EXAMPLES"


@settings(max_examples=5)
@given(st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=1, max_size=5))
def test_usable_divisor_of_a_peak(xs):
    """Also the probe of the tests below: with $QSNN_TEST_RECORD_EXAMPLES set, it records each example."""
    if os.environ.get(RECORD):
        with open(os.environ[RECORD], "a") as f:
            f.write(json.dumps(xs) + "\n")
    peak = float(np.abs(np.array(xs)).max())
    assert usable_divisor(peak, "the peak") == (peak if peak else 1.0)


def _run(tmp_path: Path, name: str, *args: str) -> list[str]:
    record = tmp_path / f"{name}.jsonl"
    env = {**os.environ, RECORD: str(record)}
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:xdist",
        *args,
        f"{Path(__file__).relative_to(ROOT)}::test_usable_divisor_of_a_peak",
    ]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return record.read_text().splitlines()


def test_ci_profile_is_derandomized_and_fuzz_draws_more(tmp_path):
    first = _run(tmp_path, "ci1", "--hypothesis-profile=ci")
    again = _run(tmp_path, "ci2", "--hypothesis-profile=ci")
    assert first == again and len(first) >= 5  # the same examples on every run and machine
    fuzzed = _run(tmp_path, "fuzz", "--hypothesis-profile=fuzz")
    assert len(fuzzed) >= 10 * len(first)  # FUZZ_FACTOR x the test's own max_examples=5


def test_property_marker_selects_exactly_the_hypothesis_tests():
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "--collect-only",
        "-q",
        "-p",
        "no:xdist",
        "-m",
        "property",
        "tests/test_hypothesis_profiles.py",
        "tests/quant/test_quantizers.py",
    ]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600).stdout
    selected = {line.split("::")[-1] for line in out.splitlines() if "::" in line}
    assert "test_usable_divisor_of_a_peak" in selected
    assert "test_symmetric_range_levels_idempotence" in selected
    assert "test_wage_family_by_hand" not in selected and "test_straight_through_gradients" not in selected
    assert not any(name.startswith("test_ci_profile") for name in selected)


def test_make_test_selects_the_ci_profile_and_make_fuzz_the_fuzz_profile():
    makefile = (ROOT / "Makefile").read_text()
    test_recipe = makefile.split("\ntest:", 1)[1].split("\n\n", 1)[0]
    fuzz_recipe = makefile.split("\nfuzz:", 1)[1].split("\n\n", 1)[0]
    assert "--hypothesis-profile=ci" in test_recipe
    assert "--hypothesis-profile=fuzz" in fuzz_recipe and "-m 'property" in fuzz_recipe
