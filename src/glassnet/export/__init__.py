"""Export trained nets to ONNX / TorchScript with a parity check and a take-away folder."""

from glassnet.export.bundle import TOLERANCE, ExportResult, export_model
from glassnet.export.formats import FORMATS

__all__ = ["FORMATS", "TOLERANCE", "ExportResult", "export_model"]
