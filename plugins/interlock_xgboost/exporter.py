"""The ``xgboost`` exporter: XGBoost tree models to ONNX, through onnxmltools.

This module is imported when the plugin loads, so it imports only interlock's light base
classes; xgboost, onnxmltools, onnx and onnxruntime are imported when a model is exported.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from interlock.exporters.tabular import TreeExporter, TreeModel
from interlock.plugins import FALLBACK_PRIORITY

if TYPE_CHECKING:
    from pydantic import BaseModel

__all__ = ["XGBoostExporter"]


class XGBoostExporter(TreeExporter):
    """Exports XGBoost classifiers and regressors: a native ``xgboost.Booster`` or a fitted
    scikit-learn wrapper (``XGBClassifier``, ``XGBRegressor``, ``XGBRF*``).

    Inputs come from the sample's columns as for scikit-learn (exporter.md EXP-030 to EXP-035);
    classifiers output ``label`` and ``probabilities``, regressors ``prediction``. Before the
    model is returned, onnxruntime runs it on the sample's rows and must agree with XGBoost
    (EXP-051).
    """

    name = "xgboost"
    framework_label = "XGBoost"
    package = "xgboost-cpu"
    extra = "xgboost"
    priority = FALLBACK_PRIORITY
    description = "XGBoost boosters and scikit-learn wrappers to ONNX (through onnxmltools)"
    capabilities = frozenset({"sample:arrow", "sample:numpy", "sample:pandas", "framework:xgboost"})

    @property
    def options_model(self) -> type[BaseModel]:
        """:class:`interlock_xgboost.options.XGBoostExportOptions`."""
        from interlock_xgboost.options import XGBoostExportOptions

        return XGBoostExportOptions

    def facts_of(self, model: object) -> TreeModel:
        """The booster, classes and feature names of ``model``."""
        from interlock_xgboost._model import facts_of

        return facts_of(model)

    def convert(self, facts: TreeModel, input_name: str, target_opset: int | None) -> Any:
        """onnxmltools' ``convert_xgboost`` of a copy of the booster without feature names."""
        from interlock_xgboost._model import ModelFacts

        self.require("onnxmltools", "onnxmltools", "converting XGBoost models to ONNX")
        from onnxmltools import convert_xgboost
        from onnxmltools.convert.common.data_types import FloatTensorType

        assert isinstance(facts, ModelFacts)
        return convert_xgboost(
            facts.converter_input(),
            initial_types=[(input_name, FloatTensorType([None, facts.n_features]))],
            target_opset=target_opset,
        )
