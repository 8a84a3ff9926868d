"""The ``lightgbm`` exporter: LightGBM tree models to ONNX, through onnxmltools.

This module is imported when the plugin loads, so it imports only interlock's light base
classes; lightgbm, onnxmltools, onnx and onnxruntime are imported when a model is exported.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from interlock.exporters.tabular import TreeExporter, TreeModel
from interlock.plugins import FALLBACK_PRIORITY

if TYPE_CHECKING:
    from pydantic import BaseModel

__all__ = ["LightGBMExporter"]


class LightGBMExporter(TreeExporter):
    """Exports LightGBM classifiers and regressors: a native ``lightgbm.Booster`` or a fitted
    scikit-learn wrapper (``LGBMClassifier``, ``LGBMRegressor``).

    Inputs come from the sample's columns as for scikit-learn (exporter.md EXP-030 to EXP-035);
    classifiers output ``label`` and ``probabilities``, regressors ``prediction``. Before the
    model is returned, onnxruntime runs it on the sample's rows and must agree with LightGBM
    (EXP-051).
    """

    name = "lightgbm"
    framework_label = "LightGBM"
    extra = "lightgbm"
    priority = FALLBACK_PRIORITY
    description = "LightGBM boosters and scikit-learn wrappers to ONNX (through onnxmltools)"
    capabilities = frozenset({"sample:arrow", "sample:numpy", "sample:pandas", "framework:lightgbm"})

    @property
    def options_model(self) -> type[BaseModel]:
        """:class:`interlock_lightgbm.options.LightGBMExportOptions`."""
        from interlock_lightgbm.options import LightGBMExportOptions

        return LightGBMExportOptions

    def facts_of(self, model: object) -> TreeModel:
        """The booster, classes and feature names of ``model``."""
        from interlock_lightgbm._model import facts_of

        return facts_of(model)

    def convert(self, facts: TreeModel, input_name: str, target_opset: int | None) -> Any:
        """onnxmltools' ``convert_lightgbm``, probabilities as a tensor (no ZipMap)."""
        self.require("onnxmltools", "onnxmltools", "converting LightGBM models to ONNX")
        from onnxmltools import convert_lightgbm
        from onnxmltools.convert.common.data_types import FloatTensorType

        # zipmap=False: probabilities as a tensor, not a list of dicts no column can hold.
        return convert_lightgbm(
            facts.booster,
            initial_types=[(input_name, FloatTensorType([None, facts.n_features]))],
            target_opset=target_opset,
            zipmap=False,
        )
