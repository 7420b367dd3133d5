"""Dataset registry and the package's public names."""

from __future__ import annotations

import numpy as np
import pytest

import qsnn_deploy.data as data
from qsnn_deploy.errors import InputError


def test_public_names():
    for name in data.__all__:
        assert hasattr(data, name)
    assert "digits-dvs" in data.DATASETS


def test_load_dataset_matches_loader(digits_cache, digits_test):
    ds = data.load_dataset("digits-dvs", "test", seed=0, cache_dir=digits_cache, progress=False)
    assert len(ds) == len(digits_test)
    assert np.array_equal(ds.labels, digits_test.labels)
    assert all(np.array_equal(a, b) for a, b in zip(ds.events[:20], digits_test.events[:20]))


@pytest.mark.parametrize(
    ("name", "parts"),
    [
        (
            "digit-dvs",
            [
                "Unknown dataset 'digit-dvs'. Where: dataset name. Fix: did you mean 'digits-dvs'? "
                "known datasets: digits-dvs, dvsgesture, mnist-dvs, nmnist, pokerdvs, or folder:PATH"
            ],
        ),
        (
            "cifar",
            [
                "Unknown dataset 'cifar'. Where: dataset name. Fix: known datasets: digits-dvs, dvsgesture,",
                "`qsnn-deploy datasets` lists them",
            ],
        ),
    ],
)
def test_unknown_dataset(name, parts):
    with pytest.raises(InputError) as err:
        data.load_dataset(name, "train")
    assert all(part in str(err.value) for part in parts) and err.value.exit_code == 3
