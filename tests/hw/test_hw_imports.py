"""qsnn_deploy.hw must not need torch: import each module alone in a fresh interpreter."""

import subprocess
import sys

import pytest

MODULES = (
    ["qsnn_deploy.hw"]
    + [
        f"qsnn_deploy.hw.{m}"
        for m in (
            "profile",
            "schema",
            "memory",
            "rules",
            "rules_neurocore",
            "mapping",
            "estimator",
            "report",
            "counts",
            "neurocore",
            "energy",
            "plot",
        )
    ]
    + ["qsnn_deploy.deploy.activity"]
)


@pytest.mark.parametrize("module", MODULES)
def test_import_alone_without_torch(module):
    code = (
        f"import sys, {module}\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'sinabs', 'samna'))\n"
        "assert not bad, bad\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_estimate_end_to_end_without_torch():
    code = (
        "import sys, numpy as np\n"
        "from qsnn_deploy.ir import ChipLayer, Network\n"
        "from qsnn_deploy.hw import load_profile, estimate, format_table\n"
        "net = Network([ChipLayer('c', np.zeros((4, 2, 3, 3)), (2, 16, 16))], (2, 16, 16))\n"
        "for t in ('speck2f', 'dynapcnn', 'loihi', 'loihi2', 'generic-45nm'):\n"
        "    format_table(estimate(net, load_profile(t), {'c': 1.0}, 1.0))\n"
        "assert 'torch' not in sys.modules\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
