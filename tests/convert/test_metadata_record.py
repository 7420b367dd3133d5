"""The network metadata record (ir.NetworkMetadata) and convert's notes and warnings.

Every importer and convert write only keys the record documents; notes and warnings reach the caller as two
lists without a severity prefix, while the bundle's import record keeps the format it had (a warning in
``import_notes`` is marked ``warning: ``)."""

import json

import pytest
import sinabs.layers as sl
import torch
from helpers import TINY, run_cli
from test_nir_import import NIR100, SNNTORCH

from qsnn_deploy.convert.ann import ann_from_spec, ann_to_network
from qsnn_deploy.convert.bundle import convert_model, convert_network
from qsnn_deploy.convert.from_torch import network_from_module
from qsnn_deploy.convert.loader import load_network
from qsnn_deploy.convert.nir_import import ImportOptions
from qsnn_deploy.convert.nir_io import read_nir
from qsnn_deploy.errors import ConstraintError
from qsnn_deploy.ir import IMPORT_WARNING, NetworkMetadata, import_record, split_import_record
from qsnn_deploy.nets.checkpoint import save_checkpoint
from qsnn_deploy.nets.network import SpikingCNN
from qsnn_deploy.nets.zoo import spec_from_dict

KEYS = NetworkMetadata.__optional_keys__


def _leaky_checkpoint(tmp_path, **extra):
    spec = spec_from_dict({**TINY, "neuron": {"type": "lif", "beta": 0.9}})
    torch.manual_seed(0)
    path = tmp_path / "checkpoint.pt"
    payload = {"dt_us": 1000.0, "time_bins": 4, "duration_us": 4000.0, "dataset": "digits-dvs", **extra}
    save_checkpoint(path, SpikingCNN(spec), payload)
    return path


def test_import_record_round_trip():
    record = import_record(["a note", "another"], ["a leak was dropped"])
    assert record == ["a note", "another", IMPORT_WARNING + "a leak was dropped"]
    assert split_import_record(record) == (["a note", "another"], ["a leak was dropped"])
    assert split_import_record([]) == ([], []) and import_record([]) == []
    # order within each list is kept, wherever the warnings stand in the record
    assert split_import_record(["warning: w1", "n1", "warning: w2"]) == (["n1"], ["w1", "w2"])


def test_every_writer_uses_documented_keys(tmp_path):
    """A key a writer adds without documenting it in ir.NetworkMetadata fails here."""
    nets = {
        "checkpoint": load_network(
            _leaky_checkpoint(tmp_path, auxiliary_readouts=2), ImportOptions(approximate_leak=True)
        ),
        "foreign nir": read_nir(NIR100),
        "foreign nir, leaky": read_nir(SNNTORCH, ImportOptions(approximate_leak=True)),
        "torch module": network_from_module(
            torch.nn.Sequential(torch.nn.Conv2d(2, 4, 3), sl.IAFSqueeze(batch_size=1), torch.nn.AvgPool2d(2)), (2, 8, 8)
        ),
        "ann": ann_to_network(ann_from_spec(spec_from_dict(TINY)), (2, 8, 8), None, percentile=None)[0],
    }
    bundle = convert_network(nets["foreign nir"], "speck2f", tmp_path / "b")
    nets["bundle"] = bundle.network
    nets["bundle read back"] = read_nir(tmp_path / "b" / "model.nir")
    for how, net in nets.items():
        assert isinstance(net.metadata, dict) and type(net.metadata) is dict, how  # a plain dict at run time
        assert set(net.metadata) <= KEYS, (how, sorted(set(net.metadata) - KEYS))
    assert {"import_notes", "time_bins", "duration_us", "dataset", "source", "model"} <= set(
        nets["checkpoint"].metadata
    )
    assert {"target", "weight_bits", "state_bits"} <= set(nets["bundle"].metadata)


def test_checkpoint_notes_and_warnings_stay_apart(tmp_path):
    ckpt = _leaky_checkpoint(tmp_path, auxiliary_readouts=2, training="local rules")
    with pytest.raises(ConstraintError, match="no leak"):
        load_network(ckpt)
    net = load_network(ckpt, ImportOptions(approximate_leak=True))
    record = net.metadata["import_notes"]
    assert len(record) == 2 and "dropped 2 auxiliary readout" in record[0]
    assert record[1].startswith("warning: 'lif' neurons (beta = 0.9) run as IAF")  # the bundle format, as before
    res = convert_model(ckpt, "speck2f", tmp_path / "b", options=ImportOptions(approximate_leak=True))
    assert len(res.notes) == 1 and "dropped 2 auxiliary readout" in res.notes[0]
    assert res.warnings[0].startswith("'lif' neurons (beta = 0.9) run as IAF")
    assert not any(m.startswith(IMPORT_WARNING) for m in res.notes + res.warnings)
    report = (tmp_path / "b" / "report.md").read_text()
    assert "- warning: 'lif' neurons (beta = 0.9) run as IAF" in report.split("## Import")[1].split("##")[0]
    assert read_nir(tmp_path / "b" / "model.nir").metadata["import_notes"] == record


def test_cli_prints_notes_then_warnings_and_lists_them_apart(tmp_path):
    ckpt = _leaky_checkpoint(tmp_path, auxiliary_readouts=2, training="local rules")
    args = ("convert", ckpt, "--out", tmp_path / "b", "--approximate-leak", "--format", "json")
    proc = run_cli(*args)
    doc = json.loads(proc.stdout)
    assert len(doc["notes"]) == 1 and "dropped 2 auxiliary readout" in doc["notes"][0]
    assert doc["warnings"][0].startswith("'lif' neurons (beta = 0.9) run as IAF")
    lines = [line for line in proc.stderr.splitlines() if line.startswith(("note: ", "warning: "))]
    assert lines[0].startswith("note: dropped 2 auxiliary readout")
    assert lines[1].startswith("warning: 'lif' neurons (beta = 0.9) run as IAF")
    assert [line[len("warning: ") :] for line in lines[1:]] == doc["warnings"]
