"""Options of the ``xgboost`` exporter (``interlock.export(..., options={...})``)."""

from __future__ import annotations

from interlock.exporters.tabular import TreeExportOptions

__all__ = ["XGBoostExportOptions"]


class XGBoostExportOptions(TreeExportOptions):
    """What can be tuned when exporting a XGBoost model: the options of every tree exporter
    (``target_opset``, ``input_name``, ``batch_dim``, ``parity_rtol``, ``parity_atol``)."""
