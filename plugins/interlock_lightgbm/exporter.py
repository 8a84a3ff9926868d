"""The ``lightgbm`` exporter: LightGBM tree models to ONNX, through onnxmltools.

This module is imported when the plugin loads, so it imports only interlock's light base
classes; lightgbm, onnxmltools, onnx and onnxruntime are imported inside
:meth:`LightGBMExporter.export`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from interlock.errors import ExportError, InterlockError, MissingDependencyError
from interlock.exporters import ExportedModel, Exporter
from interlock.plugins import FALLBACK_PRIORITY

if TYPE_CHECKING:
    from pydantic import BaseModel

    from interlock_lightgbm._model import ModelFacts
    from interlock.exporters.tabular import InputGroup
    from interlock_lightgbm.options import LightGBMExportOptions as _Options

__all__ = ["LightGBMExporter"]

_EXTRA = "lightgbm"
# onnxmltools' input when casting nodes feed it from the columns; never visible to callers.
_INTERNAL_INPUT = "interlock_lightgbm_X"
# Opset of the default domain for the nodes interlock adds, when onnxmltools used none.
_FALLBACK_OPSET = 13


class LightGBMExporter(Exporter):
    """Exports LightGBM classifiers and regressors: a native ``lightgbm.Booster`` or a fitted
    scikit-learn wrapper (``LGBMClassifier``, ``LGBMRegressor``).

    Inputs come from the sample's columns as for scikit-learn (exporter.md EXP-030 to EXP-035);
    classifiers output ``label`` and ``probabilities``, regressors ``prediction``. Before the
    model is returned, onnxruntime runs it on the sample's rows and must agree with LightGBM
    (EXP-051).
    """

    name = "lightgbm"
    priority = FALLBACK_PRIORITY
    description = "LightGBM boosters and scikit-learn wrappers to ONNX (through onnxmltools)"
    capabilities = frozenset({"sample:arrow", "sample:numpy", "sample:pandas", "framework:lightgbm"})

    @property
    def options_model(self) -> type[BaseModel]:
        """:class:`interlock_lightgbm.options.LightGBMExportOptions`."""
        from interlock_lightgbm.options import LightGBMExportOptions

        return LightGBMExportOptions

    def can_export(self, model: object) -> bool:
        """True for objects whose class is defined in lightgbm (``lightgbm.*``); decided from the
        type alone, without importing lightgbm."""
        return type(model).__module__.split(".")[0] == "lightgbm"

    def export(self, model: object, sample: object, options: dict[str, Any]) -> ExportedModel:
        """Convert ``model``; ``sample`` fixes the input columns and its rows check parity."""
        from interlock.exporters.tabular import group_inputs, layout_from_sample, rows_of
        from interlock_lightgbm.options import LightGBMExportOptions

        opts = self.parse_options(options)
        assert isinstance(opts, LightGBMExportOptions)
        lightgbm = _import("lightgbm", "lightgbm", "reading LightGBM models")
        from interlock_lightgbm._model import facts_of

        facts = facts_of(model)
        layout = layout_from_sample(sample, facts.feature_names)
        if layout.n_features != facts.n_features:
            shown = ", ".join(layout.columns[:5]) + (", ..." if len(layout.columns) > 5 else "")
            raise ExportError(
                f"the export sample has {layout.n_features} feature(s) ({shown}) but the "
                f"{facts.estimator} was trained on {facts.n_features}",
                hint="pass a sample of the X the model was trained on (without the target)",
            )
        groups = group_inputs(layout, opts.input_name)
        onnx_model = _convert(facts, groups, opts)
        rows = rows_of(sample, layout)
        parity: dict[str, Any] | str = "not checked: the sample has no rows"
        if rows is not None:
            parity = _parity(onnx_model, groups, rows, facts, opts)
        return _exported(onnx_model, groups, facts, lightgbm.__version__, parity)


def _import(module: str, package: str, purpose: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingDependencyError(package, _EXTRA, purpose=purpose) from None


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def _convert(facts: ModelFacts, groups: list[InputGroup], opts: _Options) -> Any:
    """Run onnxmltools, then give the graph the spec's inputs, outputs and shapes."""
    _import("onnxmltools", "onnxmltools", "converting LightGBM models to ONNX")
    import onnx
    from onnxmltools import convert_lightgbm
    from onnxmltools.convert.common.data_types import FloatTensorType

    from interlock.exporters.tabular import ensure_default_opset, feed_from_groups, shape_outputs

    direct = len(groups) == 1 and groups[0].dtype == "float32"
    name = opts.input_name if direct else _INTERNAL_INPUT
    try:
        # zipmap=False: probabilities as a tensor, not a list of dicts no column can hold.
        onnx_model = convert_lightgbm(
            facts.booster,
            initial_types=[(name, FloatTensorType([None, facts.n_features]))],
            target_opset=opts.target_opset,
            zipmap=False,
        )
    except Exception as exc:
        raise ExportError(
            f"onnxmltools could not convert the {facts.estimator} (objective "
            f"{facts.objective}): {type(exc).__name__}: {_one_line(exc)}",
            hint="check that onnxmltools supports the model's objective",
        ) from exc
    if not direct:
        feed_from_groups(onnx_model, name, groups, opts.batch_dim)
    n_classes = len(facts.classes) if facts.classes is not None else None
    shape_outputs(onnx_model, opts.batch_dim, n_classes)
    ensure_default_opset(onnx_model, opts.target_opset or _FALLBACK_OPSET)
    try:
        onnx.checker.check_model(onnx_model, full_check=True)
    except Exception as exc:
        raise ExportError(
            f"onnxmltools produced an invalid ONNX graph for the {facts.estimator}: "
            f"{_one_line(exc)}",
            hint="report the model to onnxmltools; an older target_opset may help",
        ) from exc
    return onnx_model


def _parity(
    onnx_model: Any, groups: list[InputGroup], rows: Any, facts: ModelFacts,
    opts: _Options,
) -> dict[str, Any]:
    _import(
        "onnxruntime", "onnxruntime", "checking that the exported model predicts like LightGBM"
    )
    from interlock.exporters.tabular import check_parity

    tolerance = (opts.parity_rtol, opts.parity_atol)
    return check_parity(onnx_model, groups, rows, facts.predict(rows), tolerance, "LightGBM")


def _exported(
    onnx_model: Any, groups: list[InputGroup], facts: ModelFacts, version: str,
    parity: dict[str, Any] | str,
) -> ExportedModel:
    import onnxmltools

    from interlock.tensors import ColumnMapping, InputBinding, OutputBinding, Signature

    try:
        signature = Signature.from_onnx(onnx_model)
    except InterlockError as exc:
        raise ExportError(
            f"the ONNX graph of the {facts.estimator} cannot be an interlock artifact: "
            f"{exc.message}",
            hint="export a classifier or regressor whose outputs are plain tensors",
        ) from exc
    columns = ColumnMapping(
        inputs=[InputBinding(tensor=g.tensor, columns=g.columns) for g in groups],
        outputs=[OutputBinding(tensor=s.name, column=s.name) for s in signature.outputs],
    )
    details: dict[str, Any] = {
        "version": version,
        "estimator": facts.estimator,
        "converter": f"onnxmltools {onnxmltools.__version__}",
        "objective": facts.objective,
        "parity": parity,
    }
    if facts.classes is not None:
        details["classes"] = facts.classes
    return ExportedModel(onnx_model, signature, columns, {"lightgbm": details})
