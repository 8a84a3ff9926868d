"""The pieces every section of the interop matrix is built from: cells, sections, the shared
run context (components in effect, golden artifacts, loaded predictors) and the way a check
turns into a passed, failed or not-applicable cell (spec: conformance.md, CONF-050)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

import interlock
from interlock import InterlockError

if TYPE_CHECKING:
    import numpy as np

    from interlock import Artifact, Predictor
    from interlock.plugins import Registry

    from interlock_conformance.vectors import ModelVector, VectorIndex

__all__ = [
    "CellFailure",
    "ComponentRef",
    "MatrixCell",
    "MatrixComponent",
    "MatrixContext",
    "MatrixSection",
    "NotApplicable",
    "evaluate",
    "stage",
]

CellStatus = Literal["passed", "failed", "not applicable"]

_MESSAGE_LIMIT = 400


class MatrixComponent(BaseModel):
    """One component in effect, and the plugin that provides it."""

    model_config = ConfigDict(extra="forbid")

    kind: str
    name: str
    plugin: str | None = Field(description="Entry-point name of the providing plugin.")
    distribution: str | None = None
    version: str | None = None
    capabilities: list[str]


class MatrixCell(BaseModel):
    """One pair of components: the row's and the column's."""

    model_config = ConfigDict(extra="forbid")

    row: str
    column: str
    status: CellStatus
    requirements: list[str] = Field(description="Requirement IDs the cell checks.")
    failed_requirement: str | None = Field(
        default=None, description="For a failed cell: the requirement whose check failed."
    )
    message: str | None = Field(
        default=None, description="Why the cell failed, or why it does not apply."
    )
    checked: list[str] = Field(
        default_factory=list, description="The vectors, models or modes the cell ran."
    )
    duration_s: float = Field(default=0.0, ge=0)


class MatrixSection(BaseModel):
    """One kind of pair: rows of one component kind, columns of another."""

    model_config = ConfigDict(extra="forbid")

    name: str
    title: str
    requirement: str = Field(description="The conformance.md requirement the section checks.")
    row_kind: str
    column_kind: str
    rows: list[str]
    columns: list[str]
    cells: list[MatrixCell]

    def cell(self, row: str, column: str) -> MatrixCell:
        """The cell of one pair; ``KeyError`` if there is none."""
        for cell in self.cells:
            if cell.row == row and cell.column == column:
                return cell
        raise KeyError((row, column))

    def failed(self) -> list[MatrixCell]:
        """The failed cells, row by row."""
        return [cell for cell in self.cells if cell.status == "failed"]


class CellFailure(Exception):
    """A check of a cell failed: ``requirement`` is the ID whose check failed."""

    def __init__(self, requirement: str, message: str) -> None:
        super().__init__(message)
        self.requirement = requirement
        self.message = message


class NotApplicable(Exception):
    """The pair cannot be checked (say why: a capability one side lacks, a missing client)."""


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= _MESSAGE_LIMIT else line[: _MESSAGE_LIMIT - 1] + "…"


def describe_error(exc: BaseException) -> str:
    """``Type: message`` on one line (an interlock error keeps its own words)."""
    return _one_line(f"{type(exc).__name__}: {exc}")


@contextlib.contextmanager
def stage(requirement: str, action: str, *, returned_wrong: str | None = None) -> Iterator[None]:
    """Turn anything a component raises during ``action`` into a failure of ``requirement``.

    A component's error must fail its cell, never the run (CONF-050). ``returned_wrong`` is
    the requirement to blame instead when the error is a :class:`interlock.SpecViolation`
    (the core caught a component returning something the spec forbids, such as a runtime's
    output of the wrong dtype: runtime.md RT-020).
    """
    from interlock import SpecViolation

    try:
        yield
    except (CellFailure, NotApplicable):
        raise
    except Exception as exc:
        wrong_result = returned_wrong is not None and isinstance(exc, SpecViolation)
        blamed = returned_wrong if wrong_result and returned_wrong else requirement
        raise CellFailure(blamed, f"{action}: {describe_error(exc)}") from exc


def evaluate(
    row: str, column: str, requirements: list[str], check: Callable[[], list[str]]
) -> MatrixCell:
    """Run one cell's ``check``, which returns what it checked, and record the outcome."""
    import time

    start = time.perf_counter()
    status: CellStatus = "passed"
    failed: str | None = None
    message: str | None = None
    checked: list[str] = []
    try:
        checked = check()
    except CellFailure as failure:
        status, failed, message = "failed", failure.requirement, _one_line(failure.message)
    except NotApplicable as reason:
        status, message = "not applicable", _one_line(str(reason))
    return MatrixCell(
        row=row,
        column=column,
        status=status,
        requirements=requirements,
        failed_requirement=failed,
        message=message,
        checked=checked,
        duration_s=time.perf_counter() - start,
    )


class ComponentRef:
    """A component name in effect, with the component (None when the name is unresolvable)."""

    def __init__(self, kind: str, name: str, component: Any, error: str | None) -> None:
        self.kind = kind
        self.name = name
        self.component = component
        self.error = error

    @property
    def capabilities(self) -> frozenset[str]:
        """What the component claims (nothing for an unresolvable name)."""
        return frozenset(getattr(self.component, "capabilities", ()))

    def require(self) -> Any:
        """The component, or a failure of PLG-020 when its name is unresolvable."""
        if self.component is None:
            raise CellFailure("PLG-020", self.error or f"{self.kind} {self.name!r} is unresolved")
        return self.component


class MatrixContext:
    """What the sections of one run share: the registry, a scratch directory, the golden
    vectors, and artifacts, predictors and outputs computed once and reused."""

    def __init__(self, registry: Registry, scratch: Path) -> None:
        self.registry = registry
        self.scratch = scratch
        self._artifacts: dict[str, Artifact] = {}
        self._predictors: dict[tuple[str, str], Predictor] = {}
        self._outputs: dict[tuple[str, str], dict[str, np.ndarray]] = {}
        self._refs: dict[str, list[ComponentRef]] = {}
        #: Whatever a section computes once and reuses, by a key of its own.
        self.memo: dict[str, Any] = {}
        self._sessions = contextlib.ExitStack()
        self._executor_options: dict[str, dict[str, Any]] = {}

    @cached_property
    def vectors(self) -> VectorIndex:
        """The golden vectors, checked against their checksums."""
        from interlock_conformance.vectors import load_vector_index

        return load_vector_index()

    def directory(self, *parts: str) -> Path:
        """A fresh directory under the scratch directory."""
        path = self.scratch.joinpath(*parts)
        path.mkdir(parents=True, exist_ok=True)
        return path

    # -- components ----------------------------------------------------------------------------

    def components(self, kind: str) -> list[ComponentRef]:
        """The component names of ``kind`` in effect, sorted, each resolved by the registry."""
        refs = self._refs.get(kind)
        if refs is None:
            refs = []
            for name in self.registry.names(kind):
                try:
                    refs.append(ComponentRef(kind, name, self.registry.get(kind, name), None))
                except InterlockError as exc:
                    refs.append(ComponentRef(kind, name, None, str(exc)))
            self._refs[kind] = refs
        return refs

    def component_summaries(self) -> list[MatrixComponent]:
        """Every component in effect with its plugin, for the report."""
        from interlock.plugins import KINDS

        summaries = []
        for kind in KINDS:
            for ref in self.components(kind):
                owner = self.registry.owner(ref.component) if ref.component is not None else None
                summaries.append(
                    MatrixComponent(
                        kind=kind,
                        name=ref.name,
                        plugin=owner.name if owner else None,
                        distribution=owner.distribution if owner else None,
                        version=owner.version if owner else None,
                        capabilities=sorted(ref.capabilities),
                    )
                )
        return summaries

    def problems(self) -> list[str]:
        """Plugins that did not load, and names that cannot be resolved."""
        found = [
            f"plugin {info.origin} did not load: {info.error}"
            for info in self.registry.plugins
            if info.status == "error"
        ]
        return found + self.registry.conflicts()

    # -- golden models -------------------------------------------------------------------------

    def model_vectors(self) -> list[ModelVector]:
        """Every golden model vector, in index order."""
        return list(self.vectors.models.values())

    @staticmethod
    def supports(runtime: ComponentRef, model: ModelVector) -> bool:
        """Whether the runtime claims every capability the model needs (runtime.md RT-070)."""
        return set(model.runtime_capabilities) <= runtime.capabilities

    def golden_artifact(self, model: str) -> Artifact:
        """The golden model ``model`` saved once as an artifact on local disk (in the store
        that serves local paths, as a user's ``save_artifact`` would pick it)."""
        artifact = self._artifacts.get(model)
        if artifact is None:
            import onnx

            import interlock

            proto = onnx.load_from_string(self.vectors.model_bytes(model))
            root = str(self.directory("golden"))
            artifact = interlock.save_artifact(proto, root, name=model, version="1")
            self._artifacts[model] = artifact
        return artifact

    def predictor(self, runtime: str, model: str) -> Predictor:
        """The golden model loaded into ``runtime`` (once per run)."""
        key = (runtime, model)
        predictor = self._predictors.get(key)
        if predictor is None:
            import interlock

            predictor = interlock.load_predictor(self.golden_artifact(model), runtime)
            self._predictors[key] = predictor
        return predictor

    def outputs(self, runtime: str, model: str) -> dict[str, np.ndarray]:
        """What ``runtime`` returns for the golden inputs of ``model`` (once per run).

        A runtime that cannot load the model fails RT-003, one whose outputs the core refuses
        fails RT-020 (as :class:`CellFailure`).
        """
        key = (runtime, model)
        outputs = self._outputs.get(key)
        if outputs is None:
            with stage("RT-003", f"loading {model} into runtime {runtime}"):
                predictor = self.predictor(runtime, model)
            with stage("RT-020", f"running {model} in runtime {runtime}"):
                outputs = predictor.infer(self.vectors.inputs(model))
            self._outputs[key] = outputs
        return outputs

    def executor_options(self, executor: str) -> dict[str, Any]:
        """The options under which the jobs of ``executor`` run on one engine kept for the
        whole run (``interlock.executor_session``, BAT-047), started on first use."""
        if executor not in self._executor_options:
            self._executor_options[executor] = self._sessions.enter_context(
                interlock.executor_session(executor))
        return self._executor_options[executor]

    def close(self) -> None:
        """Stop the executors' engines and forget the loaded predictors (their sessions go
        with them)."""
        try:
            self._sessions.close()
        finally:
            self._executor_options.clear()
            self._predictors.clear()
            self._outputs.clear()
