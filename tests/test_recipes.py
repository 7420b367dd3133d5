"""The recipes in models/: each parses, names a known dataset and runs with one command once its data is there."""

from __future__ import annotations

import pytest
from helpers import run_cli

from qsnn_deploy.data.tonic_sets import KNOWN
from qsnn_deploy.nets.zoo import load_spec, zoo_names
from qsnn_deploy.train.config import RECIPE_KEYS

RECIPES = [name for name in zoo_names() if load_spec(name).dataset != "digits-dvs"]  # the built-in data needs no recipe


@pytest.mark.parametrize("name", RECIPES)
def test_recipe_parses_and_names_a_known_dataset(name):
    spec = load_spec(name)
    assert spec.dataset in KNOWN
    assert set(spec.recipe) <= RECIPE_KEYS
    assert "Run: qsnn-deploy train --model" in spec.description


def test_a_recipe_without_its_data_says_where_to_put_it(tmp_path):
    proc = run_cli(
        "train", "--model", "nmnist_speck", "--data-root", tmp_path / "empty", "--out", tmp_path / "r", check=False
    )
    assert proc.returncode == 3
    assert "from nmnist_speck's YAML: --dataset nmnist, --window-ms 300" in proc.stderr
    assert "--download" in proc.stderr and "--data-root" in proc.stderr
    assert not (tmp_path / "r").exists()
