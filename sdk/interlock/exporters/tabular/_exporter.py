"""A base for exporters of tree ensembles converted by onnxmltools-style converters.

A subclass names its framework and implements two steps: :meth:`TreeExporter.facts_of` (what
the model is: booster, classes, feature names, its own predictions) and
:meth:`TreeExporter.convert` (the converter call). The base does the rest, the same way for
every framework: input columns from the sample (EXP-030 to EXP-035), the graph glue and output
names, the full ONNX check, the parity check before returning (EXP-051), the signature, the
column mapping and the metadata. This module is imported when a plugin loads: it imports only
interlock's light base classes.
"""

from __future__ import annotations

import importlib
from abc import abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from interlock.errors import ExportError, InterlockError, MissingDependencyError
from interlock.exporters import ExportedModel, Exporter

if TYPE_CHECKING:
    import numpy as np
    import onnx
    from pydantic import BaseModel

    from interlock.exporters.tabular._options import TreeExportOptions
    from interlock.exporters.tabular._sample import InputGroup

__all__ = ["TreeExporter", "TreeModel"]

# Opset of the default domain for the nodes interlock adds, when the converter used none.
_FALLBACK_OPSET = 13


class TreeModel(Protocol):
    """A fitted tree ensemble as a :class:`TreeExporter` sees it (read-only attributes)."""

    @property
    def booster(self) -> Any:
        """What the converter is given (a booster, or a copy the converter accepts)."""

    @property
    def estimator(self) -> str:
        """The model's class by its public import path, for messages and metadata."""

    @property
    def objective(self) -> str:
        """The training objective, for messages and metadata."""

    @property
    def n_features(self) -> int:
        """How many features the model was trained on."""

    @property
    def feature_names(self) -> list[str] | None:
        """The feature names the model recorded, if any."""

    @property
    def classes(self) -> list[Any] | None:
        """The classes, for a classifier; None for a regressor."""

    def predict(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        """The framework's own outputs for ``rows`` under the spec's output names."""


class TreeExporter(Exporter):
    """Exports a framework's tree-ensemble classifiers and regressors through a converter.

    Set ``name`` (also the metadata key and the ``framework:<name>`` capability),
    ``framework_label`` (``"XGBoost"``, for messages) and ``extra`` (the interlock extra, or
    override :meth:`missing` for a third-party install command); implement :meth:`facts_of`
    and :meth:`convert`.
    """

    framework_label: ClassVar[str] = ""
    #: The distribution that installs the framework (default: the exporter's name).
    package: ClassVar[str] = ""
    extra: ClassVar[str | None] = None

    @property
    def options_model(self) -> type[BaseModel]:
        """:class:`interlock.exporters.tabular.TreeExportOptions` (a subclass may widen it)."""
        from interlock.exporters.tabular._options import TreeExportOptions

        return TreeExportOptions

    def can_export(self, model: object) -> bool:
        """True for objects whose class is defined in the framework's package (the exporter's
        ``name``); decided from the type alone, without importing the framework."""
        return type(model).__module__.split(".")[0] == self.name

    @abstractmethod
    def facts_of(self, model: object) -> TreeModel:
        """What ``model`` is; raises ExportError for a model this exporter cannot export."""

    @abstractmethod
    def convert(self, facts: TreeModel, input_name: str, target_opset: int | None) -> Any:
        """The converter's ONNX model of ``facts.booster``, with one float32 input
        ``[None, n_features]`` called ``input_name`` and probabilities as a tensor."""

    def missing(self, package: str, purpose: str) -> MissingDependencyError:
        """The error for a missing package (the interlock extra by default)."""
        return MissingDependencyError(package, self.extra, purpose=purpose)

    def require(self, module: str, package: str, purpose: str) -> Any:
        """Import ``module``, or raise :meth:`missing` for ``package``."""
        try:
            return importlib.import_module(module)
        except ImportError:
            raise self.missing(package, purpose) from None

    def export(self, model: object, sample: object, options: dict[str, Any]) -> ExportedModel:
        """Convert ``model``; ``sample`` fixes the input columns and its rows check parity."""
        from interlock.exporters.tabular._sample import group_inputs, layout_from_sample, rows_of

        opts = self.parse_options(options)
        framework = self.require(self.name, self.package or self.name,
                                 f"reading {self.framework_label} models")
        facts = self.facts_of(model)
        layout = layout_from_sample(sample, facts.feature_names)
        if layout.n_features != facts.n_features:
            shown = ", ".join(layout.columns[:5]) + (", ..." if len(layout.columns) > 5 else "")
            raise ExportError(
                f"the export sample has {layout.n_features} feature(s) ({shown}) but the "
                f"{facts.estimator} was trained on {facts.n_features}",
                hint="pass a sample of the X the model was trained on (without the target)",
            )
        groups = group_inputs(layout, opts.input_name)
        onnx_model = self._graph(facts, groups, opts)
        rows = rows_of(sample, layout)
        parity: dict[str, Any] | str = "not checked: the sample has no rows"
        if rows is not None:
            parity = self._parity(onnx_model, groups, rows, facts, opts)
        return self._exported(onnx_model, groups, facts, framework.__version__, parity)

    def _graph(self, facts: TreeModel, groups: list[InputGroup], opts: TreeExportOptions) -> Any:
        """Convert, then give the graph the spec's inputs, outputs and shapes."""
        import onnx

        from interlock.exporters.tabular._graph import (
            ensure_default_opset,
            feed_from_groups,
            shape_outputs,
        )

        direct = len(groups) == 1 and groups[0].dtype == "float32"
        # The converter's input when casting nodes feed it from the columns; never visible.
        name = opts.input_name if direct else f"interlock_{self.name}_X"
        try:
            onnx_model = self.convert(facts, name, opts.target_opset)
        except InterlockError:
            raise
        except Exception as exc:
            raise ExportError(
                f"the converter could not convert the {facts.estimator} (objective "
                f"{facts.objective}): {type(exc).__name__}: {_one_line(exc)}",
                hint="check that the converter supports the model's objective and booster",
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
                f"the converter produced an invalid ONNX graph for the {facts.estimator}: "
                f"{_one_line(exc)}",
                hint="report the model to the converter's project; an older target_opset may "
                "help",
            ) from exc
        return onnx_model

    def _parity(
        self, onnx_model: onnx.ModelProto, groups: list[InputGroup], rows: np.ndarray,
        facts: TreeModel, opts: TreeExportOptions,
    ) -> dict[str, Any]:
        from interlock.exporters.tabular._parity import check_parity

        self.require("onnxruntime", "onnxruntime",
                     f"checking that the exported model predicts like {self.framework_label}")
        tolerance = (opts.parity_rtol, opts.parity_atol)
        return check_parity(onnx_model, groups, rows, facts.predict(rows), tolerance,
                            self.framework_label)

    def _exported(
        self, onnx_model: onnx.ModelProto, groups: list[InputGroup], facts: TreeModel,
        version: str, parity: dict[str, Any] | str,
    ) -> ExportedModel:
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
            "converter": self.converter_version(),
            "objective": facts.objective,
            "parity": parity,
        }
        if facts.classes is not None:
            details["classes"] = facts.classes
        return ExportedModel(onnx_model, signature, columns, {self.name: details})

    def converter_version(self) -> str:
        """The converter's name and version, for the metadata (onnxmltools by default)."""
        onnxmltools = self.require("onnxmltools", "onnxmltools", "converting models to ONNX")
        return f"onnxmltools {onnxmltools.__version__}"


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())
