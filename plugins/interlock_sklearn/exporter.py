"""The ``sklearn`` exporter: scikit-learn estimators and pipelines to ONNX, through skl2onnx.

This module is imported when the plugin loads, so it imports only interlock's light base
classes; scikit-learn, skl2onnx and onnx are imported inside :meth:`SklearnExporter.export`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from interlock.plugins import FALLBACK_PRIORITY
from interlock.errors import ExportError, InterlockError, MissingDependencyError
from interlock.exporters import ExportedModel, Exporter

if TYPE_CHECKING:
    from pydantic import BaseModel

    from interlock_sklearn._graph import InputGroup

__all__ = ["SklearnExporter"]

_PURPOSE = "exporting scikit-learn models"
# skl2onnx's input when the graph feeds it from the columns; never visible to callers.
_INTERNAL_INPUT = "interlock_sklearn_X"
# Opset of the default domain, added for the casting nodes when skl2onnx used none.
_FALLBACK_OPSET = 13


class SklearnExporter(Exporter):
    """Exports any fitted scikit-learn estimator or pipeline that skl2onnx can convert.

    The model gets one input, a ``[N, features]`` float matrix gathered from the sample's
    columns; classifiers output ``label`` and ``probabilities`` (tensors, no ZipMap),
    regressors output ``prediction``; other estimators keep skl2onnx's output names.
    """

    name = "sklearn"
    priority = FALLBACK_PRIORITY
    description = "scikit-learn estimators and pipelines to ONNX (through skl2onnx)"
    capabilities = frozenset(
        {"sample:arrow", "sample:numpy", "sample:pandas", "float64", "framework:sklearn"}
    )

    @property
    def options_model(self) -> type[BaseModel]:
        """:class:`interlock_sklearn.options.SklearnExportOptions`."""
        from interlock_sklearn.options import SklearnExportOptions

        return SklearnExportOptions

    def can_export(self, model: object) -> bool:
        """True for objects whose class is defined in scikit-learn (its module is ``sklearn.*``).

        Subclasses from other libraries are not claimed: skl2onnx has no converter for them.
        """
        return type(model).__module__.split(".")[0] == "sklearn"

    def export(self, model: object, sample: object, options: dict[str, Any]) -> ExportedModel:
        """Convert ``model``; ``sample`` fixes the input columns (see ``_sample``)."""
        from interlock_sklearn._graph import group_inputs
        from interlock_sklearn._sample import layout_from_sample
        from interlock_sklearn.options import SklearnExportOptions

        opts = self.parse_options(options)
        assert isinstance(opts, SklearnExportOptions)
        sklearn = _import("sklearn", "scikit-learn")
        _check_fitted(model)
        feature_names = _feature_names(model)
        layout = layout_from_sample(sample, feature_names)
        expected = getattr(model, "n_features_in_", None)
        if isinstance(expected, int) and expected != layout.n_features:
            raise ExportError(
                f"the export sample has {layout.n_features} feature(s) "
                f"({_preview(layout.columns)}) but {type(model).__name__} was fitted on "
                f"{expected}",
                hint="pass a sample of the X the model was fitted on (without the target)",
            )
        groups = group_inputs(layout, opts.input_name)
        onnx_model = _convert(model, layout.n_features, groups, opts)

        from interlock.tensors import ColumnMapping, InputBinding, OutputBinding, Signature

        try:
            signature = Signature.from_onnx(onnx_model)
        except InterlockError as exc:  # sequences or maps among the outputs, say
            raise ExportError(
                f"the ONNX graph of {type(model).__name__} cannot be an interlock artifact: "
                f"{exc.message}",
                hint="export an estimator whose outputs are plain tensors",
            ) from exc
        columns = ColumnMapping(
            inputs=[InputBinding(tensor=g.tensor, columns=g.columns) for g in groups],
            outputs=[OutputBinding(tensor=s.name, column=s.name) for s in signature.outputs],
        )
        skl2onnx = _import("skl2onnx", "skl2onnx")
        metadata: dict[str, Any] = {
            "sklearn": {
                "version": sklearn.__version__,
                "estimator": _public_name(type(model)),
                "converter": f"skl2onnx {skl2onnx.__version__}",
                "float_dtype": opts.float_dtype,
                **_details(model),
            }
        }
        return ExportedModel(onnx_model, signature, columns, metadata)


def _import(module: str, package: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingDependencyError(package, "sklearn", purpose=_PURPOSE) from None


def _check_fitted(model: object) -> None:
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    try:
        check_is_fitted(model)
    except NotFittedError:
        raise ExportError(
            f"the {type(model).__name__} is not fitted",
            hint="call model.fit(X, y) before exporting it",
        ) from None
    except TypeError as exc:  # not an estimator at all (a bare sklearn function or helper)
        raise ExportError(
            f"{type(model).__name__} is not a scikit-learn estimator: {exc}",
            hint="export a fitted estimator or Pipeline",
        ) from None


def _feature_names(model: object) -> list[str] | None:
    names = getattr(model, "feature_names_in_", None)
    if names is None:
        return None
    listed = [str(n) for n in names]
    return listed or None


def _preview(names: list[str], limit: int = 5) -> str:
    shown = ", ".join(names[:limit])
    return shown + (", ..." if len(names) > limit else "")


def _convert(model: Any, n_features: int, groups: list[InputGroup], opts: Any) -> Any:
    """Run skl2onnx; a model it cannot convert is the user's problem, reported as such."""
    _import("skl2onnx", "skl2onnx")
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType
    from sklearn.base import is_classifier, is_regressor

    from interlock_sklearn._graph import (
        feed_from_groups,
        name_batch_dimension,
        rename_regression_output,
    )

    tensor_type = FloatTensorType if opts.float_dtype == "float32" else DoubleTensorType
    # When the columns already are one tensor of the computing precision, skl2onnx's input is
    # the model's input; otherwise an internal input is fed by casting (and gathering) nodes.
    direct = len(groups) == 1 and groups[0].dtype == opts.float_dtype
    converter_input = opts.input_name if direct else _INTERNAL_INPUT
    # ZipMap turns probabilities into a list of dicts, which no tensor or Arrow column can
    # carry; without it the classifier's outputs are plain tensors.
    converter_options = {id(model): {"zipmap": False}} if is_classifier(model) else None
    try:
        onnx_model = convert_sklearn(
            model,
            initial_types=[(converter_input, tensor_type([None, n_features]))],
            options=converter_options,
            target_opset=opts.target_opset,
        )
    except Exception as exc:
        hint = "check that skl2onnx supports every step of the model"
        if opts.float_dtype == "float64":
            hint += "; not every converter handles float64, try float_dtype='float32'"
        raise ExportError(
            f"skl2onnx could not convert {type(model).__name__}: {type(exc).__name__}: "
            f"{_one_line(exc)}",
            hint=hint,
        ) from exc
    if not direct:
        feed_from_groups(
            onnx_model,
            converter_input,
            groups,
            opts.float_dtype,
            opts.batch_dim,
            default_opset=opts.target_opset or _FALLBACK_OPSET,
        )
    name_batch_dimension(onnx_model, opts.batch_dim)
    if is_regressor(model):
        rename_regression_output(onnx_model)
    _check_graph(onnx_model, model, opts)
    return onnx_model


def _check_graph(onnx_model: Any, model: Any, opts: Any) -> None:
    """Refuse a graph that runtimes would reject: some skl2onnx converters declare types their
    operators cannot produce (tree regressors in float64, for one)."""
    import onnx

    try:
        onnx.checker.check_model(onnx_model, full_check=True)
    except Exception as exc:
        hint = "report the model to skl2onnx, or export a simpler pipeline"
        if opts.float_dtype == "float64":
            hint = "this model cannot be exported in float64; use float_dtype='float32'"
        raise ExportError(
            f"skl2onnx produced an invalid ONNX graph for {type(model).__name__}: "
            f"{_one_line(exc)}",
            hint=hint,
        ) from exc


def _public_name(cls: type) -> str:
    """``sklearn.linear_model.LogisticRegression``: scikit-learn's public import path, which
    leaves out its private modules (``_logistic``)."""
    public = [part for part in cls.__module__.split(".") if not part.startswith("_")]
    return ".".join([*public, cls.__qualname__])


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def _details(model: Any) -> dict[str, Any]:
    """JSON-safe facts a reader of the manifest wants: classes, pipeline steps."""
    details: dict[str, Any] = {}
    classes = getattr(model, "classes_", None)
    if classes is not None:
        details["classes"] = [c.item() if hasattr(c, "item") else c for c in list(classes)]
    steps = getattr(model, "steps", None)
    if isinstance(steps, list):
        details["steps"] = [
            {"name": str(name), "estimator": type(step).__name__} for name, step in steps
        ]
    return details
