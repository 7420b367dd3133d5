"""Networks in and out: checkpoints, NIR, torch/sinabs modules and ANNs to an ``ir.Network``; bundles; ONNX.

Public API (loaded on first use; reading needs no torch)::

    load_network(path) -> Network          a checkpoint.pt, a model.nir or a bundle folder
    read_nir(path) / write_nir(net, path)  NIR files (nir 1.0.4 and the newest nir read what we write)
    ImportOptions                          how foreign graphs are read (leak approximation, ...)
    convert_model(...) / convert_network(...) / convert_ann(...) -> ConvertResult   write a bundle
    network_from_module(module, input_shape, ...) -> Network    a torch / sinabs module
    export_onnx(net, path)                 the integer network as ONNX
"""

from typing import TYPE_CHECKING

from ..lazy import lazy_exports

if TYPE_CHECKING:
    from .bundle import ConvertResult, convert_ann, convert_model, convert_network
    from .from_torch import network_from_module
    from .loader import load_network
    from .nir_import import ImportOptions
    from .nir_io import read_nir, write_nir
    from .onnx_export import export_onnx

__all__ = [
    "ConvertResult",
    "ImportOptions",
    "convert_ann",
    "convert_model",
    "convert_network",
    "export_onnx",
    "load_network",
    "network_from_module",
    "read_nir",
    "write_nir",
]
__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "ConvertResult": ".bundle",
        "convert_ann": ".bundle",
        "convert_model": ".bundle",
        "convert_network": ".bundle",
        "network_from_module": ".from_torch",
        "load_network": ".loader",
        "ImportOptions": ".nir_import",
        "read_nir": ".nir_io",
        "write_nir": ".nir_io",
        "export_onnx": ".onnx_export",
    },
)
