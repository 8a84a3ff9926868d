"""The model sections of the interop matrix: stores with runtimes (CONF-052), runtimes with
runtimes (CONF-053, runtime.md RT-060 and RT-061) and executors with runtimes (CONF-056)."""

from __future__ import annotations

import uuid
from functools import partial
from typing import TYPE_CHECKING, Any

import interlock
from interlock import ArtifactIntegrityError

from interlock_conformance.matrix.cells import (
    CellFailure,
    ComponentRef,
    MatrixContext,
    MatrixSection,
    NotApplicable,
    evaluate,
    stage,
)

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

    from interlock import Artifact, ArtifactStore

__all__ = ["executor_section", "runtime_section", "store_section"]

#: The golden model that executors run: one fixed-size input, two outputs.
EXECUTOR_MODEL = "mlp_float32"
_EXECUTOR_ROWS = 50
_EXECUTOR_BATCH = 16


def _runtimes(context: MatrixContext) -> list[ComponentRef]:
    return context.components("runtime")


def _supported(context: MatrixContext, *runtimes: ComponentRef) -> list[str]:
    models = [
        m.name for m in context.model_vectors() if all(context.supports(r, m) for r in runtimes)
    ]
    if not models:
        raise NotApplicable("no golden model uses only element types both runtimes support")
    return models


def _expect_golden(
    context: MatrixContext, model: str, outputs: dict[str, np.ndarray], how: str
) -> None:
    from interlock_conformance.vectors import outputs_mismatch

    vectors = context.vectors
    problem = outputs_mismatch(vectors.models[model], vectors.outputs(model), outputs)
    if problem is not None:
        raise CellFailure("CONF-043", f"{how}: {problem}")


# -- stores x runtimes -----------------------------------------------------------------------


class _StoredArtifacts:
    """Every golden model saved once into a fresh root of each store, and loaded back."""

    def __init__(self, context: MatrixContext) -> None:
        self.context = context
        self.saved: dict[str, dict[str, Artifact]] = {}

    def _root(self, store: type[ArtifactStore]) -> str:
        protocols = set(store.protocols)
        if protocols & {"*", "file"}:
            return str(self.context.directory("stores", store.name))
        if "memory" in protocols:
            return f"memory://interlock-matrix/{uuid.uuid4().hex}/{store.name}"
        from interlock import ArtifactStore

        if store.populate.__func__ is not ArtifactStore.populate.__func__:  # type: ignore[attr-defined]
            # its own fresh, empty store under a local directory (ART-101)
            return store.populate(self.context.directory("stores", store.name), [])
        raise NotApplicable(
            f"store {store.name!r} serves {sorted(protocols)}, neither local paths nor memory://"
        )

    def _populated(self, store: type[ArtifactStore]) -> ArtifactStore:
        """A read-only store (it cannot publish) over the golden models, laid out by its
        ``populate`` (ART-101) from artifacts saved in a plain local directory first."""
        import onnx

        source = str(self.context.directory("stores", f"{store.name}-source"))
        saved = [
            interlock.save_artifact(
                onnx.load_from_string(self.context.vectors.model_bytes(model.name)),
                source,
                name=model.name,
                version="1",
            )
            for model in self.context.model_vectors()
        ]
        directory = self.context.directory("stores", store.name)
        with stage("ART-101", f"laying the golden models out for {store.name} in {directory}"):
            return store(store.populate(directory, saved), None)

    def _store(self, store_class: type[ArtifactStore]) -> ArtifactStore:
        if "read-only" in store_class.capabilities:
            return self._populated(store_class)
        return store_class(self._root(store_class), None)

    def artifacts(self, ref: ComponentRef) -> dict[str, Artifact]:
        known = self.saved.get(ref.name)
        if known is not None:
            return known
        store_class = ref.require()
        store = self._store(store_class)
        root = store.root
        import onnx

        artifacts = {}
        for model in self.context.model_vectors():
            proto = onnx.load_from_string(self.context.vectors.model_bytes(model.name))
            if "read-only" not in store_class.capabilities:
                with stage("ART-070", f"saving {model.name}:1 into {ref.name} at {root!r}"):
                    interlock.save_artifact(proto, store, name=model.name, version="1")
            try:
                artifacts[model.name] = interlock.load_artifact(f"{model.name}:1", store)
            except ArtifactIntegrityError as exc:
                raise CellFailure(
                    "ART-075", f"loading {model.name}:1 back from {ref.name}: {exc}"
                ) from exc
            except Exception as exc:
                raise CellFailure(
                    "ART-060", f"loading {model.name}:1 back from {ref.name}: {exc}"
                ) from exc
        self.saved[ref.name] = artifacts
        return artifacts


def _store_runtime(
    context: MatrixContext, stored: _StoredArtifacts, store: ComponentRef, runtime: ComponentRef
) -> list[str]:
    runtime.require()
    models = _supported(context, runtime)
    artifacts = stored.artifacts(store)
    for model in models:
        how = f"{model} from store {store.name} in runtime {runtime.name}"
        with stage("RT-003", f"loading {how}"):
            predictor = interlock.load_predictor(artifacts[model], runtime.name)
        with stage("RT-020", f"running {how}"):
            outputs = predictor.infer(context.vectors.inputs(model))
        _expect_golden(context, model, outputs, how)
    return models


def store_section(context: MatrixContext) -> MatrixSection:
    """Every store with every runtime (CONF-052)."""
    stores = context.components("artifact_store")
    runtimes = _runtimes(context)
    stored = _StoredArtifacts(context)
    cells = [
        evaluate(
            store.name,
            runtime.name,
            ["CONF-052", "ART-060", "ART-070", "ART-075", "RT-003", "RT-020", "CONF-043"],
            partial(_store_runtime, context, stored, store, runtime),
        )
        for store in stores
        for runtime in runtimes
    ]
    return MatrixSection(
        name="stores",
        title="golden models saved in the row's store and run by the column's runtime",
        requirement="CONF-052",
        row_kind="artifact_store",
        column_kind="runtime",
        rows=[s.name for s in stores],
        columns=[r.name for r in runtimes],
        cells=cells,
    )


# -- runtimes x runtimes ---------------------------------------------------------------------


def _runtime_pair(
    context: MatrixContext, candidate: ComponentRef, reference: ComponentRef
) -> list[str]:
    from interlock.tensors import compare_outputs, tolerances_for

    candidate.require()
    reference.require()
    tolerances = tolerances_for(candidate.capabilities, reference.capabilities)
    models = _supported(context, candidate, reference)
    for model in models:
        actual = context.outputs(candidate.name, model)
        if candidate.name == reference.name:
            _expect_golden(context, model, actual, f"{model} in runtime {candidate.name}")
            continue
        expected = context.outputs(reference.name, model)
        problems = compare_outputs(expected, actual, tolerances)
        if problems:
            raise CellFailure(
                "RT-060",
                f"{model}: {candidate.name} disagrees with {reference.name}: {problems[0]}",
            )
    return models


def runtime_section(context: MatrixContext) -> MatrixSection:
    """Every ordered pair of runtimes (CONF-053; RT-061 for the column ``reference``); the
    diagonal compares each runtime with the golden outputs."""
    runtimes = _runtimes(context)

    def requirements(candidate: ComponentRef, reference: ComponentRef) -> list[str]:
        if candidate.name == reference.name:
            return ["CONF-053", "CONF-043", "RT-003", "RT-020"]
        extra = ["RT-061"] if reference.name == "reference" else []
        return ["CONF-053", "RT-003", "RT-020", "RT-060", *extra]

    cells = [
        evaluate(
            candidate.name,
            reference.name,
            requirements(candidate, reference),
            partial(_runtime_pair, context, candidate, reference),
        )
        for candidate in runtimes
        for reference in runtimes
    ]
    return MatrixSection(
        name="runtimes",
        title="outputs of the row's runtime against the column's on the golden models "
        "(the diagonal: against the golden outputs)",
        requirement="CONF-053",
        row_kind="runtime",
        column_kind="runtime",
        rows=[r.name for r in runtimes],
        columns=[r.name for r in runtimes],
        cells=cells,
    )


# -- executors x runtimes x output formats --------------------------------------------------


def _executor_input(context: MatrixContext) -> tuple[str, str, pa.Table]:
    """The executors' input dataset, written once: the golden inputs of
    :data:`EXECUTOR_MODEL` repeated, in the first format that keeps their type."""
    cached: tuple[str, str, pa.Table] | None = context.memo.get("executor-input")
    if cached is not None:
        return cached
    import numpy as np
    import pyarrow as pa

    x = context.vectors.inputs(EXECUTOR_MODEL)["x"]
    rows = np.resize(x, (_EXECUTOR_ROWS, x.shape[1]))
    column = pa.FixedSizeListArray.from_arrays(pa.array(rows.ravel()), x.shape[1])
    table = pa.table({"x": column, "row": pa.array(range(_EXECUTOR_ROWS), pa.int64())})
    for ref in context.components("dataset_format"):
        if not {"read", "write", "types:nested"} <= ref.capabilities:
            continue
        directory = context.directory("executor-input", ref.name)
        uri = str(directory / f"data{ref.component.extensions[0]}")
        try:
            read = interlock.write_dataset(table, uri, format=ref.name).to_table()
        except Exception:  # this format cannot hold it; the datasets section says why
            continue
        if read.schema.equals(table.schema) and read.equals(table):
            context.memo["executor-input"] = (uri, ref.name, table)
            return uri, ref.name, table
    raise NotApplicable(
        "no installed dataset format writes and reads back a fixed_size_list<float> column"
    )


def _executor_runtime(
    context: MatrixContext, executor: ComponentRef, runtime: ComponentRef
) -> list[str]:
    executor.require()
    runtime.require()
    uri, format_name, table = _executor_input(context)
    artifact = context.golden_artifact(EXECUTOR_MODEL)
    # The runtime first, in process: a broken runtime must not pass for a broken executor.
    with stage("RT-003", f"loading {EXECUTOR_MODEL} into runtime {runtime.name}"):
        predictor = context.predictor(runtime.name, EXECUTOR_MODEL)
    with stage("RT-020", f"running {EXECUTOR_MODEL} in process in runtime {runtime.name}"):
        in_process = predictor.predict(table)
    checked = []
    for output_format in _output_formats(context):
        directory = context.directory("executor-output", executor.name, runtime.name,
                                      output_format.name)
        extensions = output_format.component.extensions
        # a single file where the format has an extension, else a directory (a table)
        output = str(directory / f"out{extensions[0] if extensions else ''}")
        job = (f"predict_dataset with executor {executor.name} and runtime {runtime.name} "
               f"into {output_format.name}")
        with stage("BAT-012", job):
            interlock.predict_dataset(
                uri, artifact, output, executor=executor.name, runtime=runtime.name,
                batch_size=_EXECUTOR_BATCH, keep_columns=["row"], progress=False,
                output_format=output_format.name,
                executor_options=context.executor_options(executor.name),
            )
            result = interlock.open_dataset(output, format=output_format.name).to_table()
        _check_executor_output(artifact, table, in_process, result)
        checked.append(f"{EXECUTOR_MODEL} from {format_name} into {output_format.name}")
    return checked


def _output_formats(context: MatrixContext) -> list[ComponentRef]:
    """The formats the executors write into: every installed one that writes and reads back
    the nested prediction columns (the golden model's outputs are ``[N, k]``), table formats
    such as ``delta`` included."""
    return [ref for ref in context.components("dataset_format")
            if {"read", "write", "types:nested"} <= ref.capabilities]


def _check_executor_output(
    artifact: Any, table: pa.Table, in_process: pa.RecordBatch, result: pa.Table
) -> None:
    from interlock.tensors import compare_outputs

    if result.num_rows != table.num_rows:
        raise CellFailure(
            "BAT-020", f"{result.num_rows} rows were written for {table.num_rows} input rows"
        )
    expected_columns = ["row", *(b.column for b in artifact.columns.outputs)]
    if result.column_names != expected_columns:
        raise CellFailure(
            "BAT-021", f"the output columns are {result.column_names}, expected {expected_columns}"
        )
    result = result.sort_by("row").select(expected_columns)
    # A format may read a column back as a wider type that casts back (DS-072: Delta keeps a
    # fixed_size_list as a list): compare what the predictions were written as.
    import pyarrow as pa

    from interlock_conformance.tables import cast_back

    written = [in_process.schema.field(b.column) for b in artifact.columns.outputs]
    restored = cast_back(result.drop_columns(["row"]), pa.schema(written))
    if isinstance(restored, str):
        raise CellFailure("DS-072", restored)
    result = restored
    for binding in artifact.columns.outputs:
        want = _column_tensor(in_process.column(binding.column))
        got = _column_tensor(result.column(binding.column).combine_chunks())
        problems = compare_outputs({binding.column: want}, {binding.column: got})
        if problems:
            raise CellFailure(
                "BAT-012",
                f"the executor's predictions differ from Predictor.predict: {problems[0]}",
            )


def _column_tensor(column: pa.Array) -> np.ndarray:
    import numpy as np
    import pyarrow as pa

    if pa.types.is_fixed_size_list(column.type):
        values = np.asarray(column.flatten().to_numpy(zero_copy_only=False))
        return values.reshape(len(column), column.type.list_size)
    return np.asarray(column.to_numpy(zero_copy_only=False))


def executor_section(context: MatrixContext) -> MatrixSection:
    """Every executor with every runtime (CONF-056)."""
    executors = context.components("executor")
    runtimes = _runtimes(context)
    cells = [
        evaluate(
            executor.name,
            runtime.name,
            ["CONF-056", "BAT-012", "BAT-020", "BAT-021", "RT-003", "RT-020"],
            partial(_executor_runtime, context, executor, runtime),
        )
        for executor in executors
        for runtime in runtimes
    ]
    return MatrixSection(
        name="executors",
        title=f"batch prediction of the golden {EXECUTOR_MODEL} by the row's executor with the "
        "column's runtime into every format that writes nested columns, against "
        "Predictor.predict in process",
        requirement="CONF-056",
        row_kind="executor",
        column_kind="runtime",
        rows=[e.name for e in executors],
        columns=[r.name for r in runtimes],
        cells=cells,
    )
