"""``interlock.predict_dataset``: a dataset through a model into a new dataset (spec: batch.md).

The core checks the job (columns, mode, batch size), resolves the dataset and the artifact,
writes the lineage record, and hands a :class:`interlock.BatchJob` to an executor component
found through the plugin registry.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from interlock.errors import DatasetError, PluginError, SignatureMismatch, SpecViolation
from interlock.batch._interfaces import BatchJob, Executor
from interlock.plugins import get_registry, plugin_boundary

if TYPE_CHECKING:
    from interlock.artifacts import Artifact, ArtifactStore
    from interlock.datasets import Dataset
    from interlock.text import TextJobOptions

__all__ = ["LINEAGE_VERSION", "WRITE_MODES", "predict_dataset"]

WRITE_MODES = ("error", "overwrite", "append")
#: Version of the lineage record's layout (batch.md BAT-031).
LINEAGE_VERSION = "1"
_SUMMARY_KEYS = ("rows", "batches", "seconds", "rows_per_second", "output_uri")


def predict_dataset(
    dataset: Dataset | str | os.PathLike[str] | object,
    artifact: Artifact | str | os.PathLike[str],
    output_uri: str | os.PathLike[str],
    *,
    executor: str = "local",
    runtime: str = "onnxruntime",
    device: str = "cpu",
    batch_size: int = 65536,
    output_format: str | None = None,
    mode: str = "error",
    keep_columns: Sequence[str] | None = None,
    progress: bool = False,
    store: ArtifactStore | str | os.PathLike[str] | None = None,
    runtime_options: Mapping[str, Any] | None = None,
    write_options: Mapping[str, Any] | None = None,
    executor_options: Mapping[str, Any] | None = None,
    resume: bool = False,
    row_index: str | None = None,
    lineage_job: str | None = None,
    casts: Mapping[str, str] | None = None,
    text_options: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Run ``artifact`` over every row of ``dataset`` and write the predictions to ``output_uri``.

    :param dataset: an :class:`interlock.Dataset`, a dataset URI (or local path), or any Arrow
        stream object (``in_process`` executors; copied once into memory).
    :param artifact: an :class:`interlock.Artifact`, or a reference (``name:version``,
        ``name@sha256:...``, an artifact URI) resolved in ``store``.
    :param output_uri: where to write; the format comes from ``output_format`` or the URI.
    :param executor: the executor component (``local`` streams on this machine).
    :param runtime: the runtime component that runs the model, on ``device``.
    :param batch_size: the most rows read, predicted and written at once (bounds memory).
    :param mode: ``error`` (refuse an existing output), ``overwrite`` or ``append``.
    :param keep_columns: dataset columns copied before the predictions (ids, keys), or ``None``.
    :param progress: show a progress bar (rows) on stderr.
    :param store: the artifact store (root URI or ``ArtifactStore``) of a reference.
    :param runtime_options: / ``write_options``: the runtime's / the output writer's options.
    :param executor_options: the executor's options (``dask``: ``address``...), checked first.
    :param resume: skip the shards an interrupted run of the same job completed (BAT-050).
    :param row_index: name of an ``int64`` column, written first, holding each output row's
        number in the dataset (0-based, in the reader's order); ``None``: no such column.
    :param lineage_job: the job name of its OpenLineage events (lineage.md LIN-011).
    :param casts: ``{column: type}``: columns cast before the model reads them (batch.md).
    :param text_options: a text artifact's columns and generation parameters (text.md TXT-060).
    :returns: ``rows``, ``batches``, ``seconds``, ``rows_per_second``, ``output_uri``, and more.
    """
    output_uri = _checked_output_uri(output_uri, mode, batch_size)
    component, parsed_options = _checked_executor(executor, executor_options, resume,
                                                  (runtime, device, runtime_options))
    with _input_dataset(dataset, component, executor) as data:
        data, model = _resolve_inputs(data, artifact, store, output_uri, casts, component)
        keep = _check_columns(data, model, keep_columns, text := _text_job(model, text_options))
        job = BatchJob(
            dataset=data, artifact=model, keep_columns=keep, **_reads(model, text),
            output_uri=output_uri, output_format=output_format, runtime=runtime, device=device,
            batch_size=batch_size, mode=mode, progress=progress, resume=resume,
            runtime_options=dict(runtime_options or {}), write_options=dict(write_options or {}),
            executor_options=parsed_options, row_index=_check_row_index(row_index, keep, model))
        return _run(component, executor, job, lineage_job)


@contextlib.contextmanager
def _input_dataset(dataset: Any, component: Executor, executor: str) -> Iterator[Any]:
    """``dataset`` as given, or, for an Arrow stream or array object (a pyarrow Table or
    reader, a polars or pandas DataFrame, anything with ``__arrow_c_stream__``), that data
    written once to an in-memory Arrow IPC dataset that is removed when the job ends."""
    from interlock.datasets import Dataset

    if isinstance(dataset, Dataset | str | os.PathLike) or not (
        hasattr(type(dataset), "__arrow_c_stream__") or hasattr(type(dataset), "__arrow_c_array__")
    ):
        yield dataset
        return
    if "in_process" not in component.capabilities:
        raise DatasetError(
            f"executor {executor!r} reads the dataset on its own workers, which cannot see an "
            f"in-memory {type(dataset).__name__}",
            hint="write it first with interlock.write_dataset(data, uri) and pass the URI, or "
            "use an executor with the 'in_process' capability such as 'local'",
        )
    import uuid

    import fsspec

    from interlock.datasets import write_dataset

    folder = f"memory://interlock-predict-input/{uuid.uuid4().hex}"
    try:
        yield write_dataset(dataset, f"{folder}/input.arrow", format="arrow")
    finally:
        memory = fsspec.filesystem("memory")
        if memory.exists(folder):
            memory.rm(folder, recursive=True)


def _checked_executor(
    name: str, options: Mapping[str, Any] | None, resume: object,
    runtime: tuple[str, str, Mapping[str, Any] | None],
) -> tuple[Executor, Any]:
    """The executor called ``name`` and its parsed options, once it can honour ``resume``
    (BAT-001, BAT-007), and then the runtime, device and runtime options checked."""
    component: Executor = get_registry().get("executor", name)
    with plugin_boundary(component, "parsing the executor options"):
        parsed = component.parse_options(dict(options or {}))
    _check_resume(component, resume)
    _check_runtime(*runtime)
    return component, parsed


def _check_resume(component: Executor, resume: object) -> None:
    if not isinstance(resume, bool):
        raise DatasetError(f"resume must be True or False, got {resume!r}",
                           hint="pass resume=True to continue an interrupted job")
    if resume and "resume" not in component.capabilities:
        resumable = [e.name for e in get_registry().all("executor")
                     if "resume" in e.capabilities]
        raise PluginError(
            f"executor {component.name!r} cannot resume a job (it lacks the 'resume' "
            "capability)",
            hint=f"executors that resume: {', '.join(resumable) or 'none installed'}",
            component=component.name,
        )


def _check_runtime(runtime: str, device: str, options: Mapping[str, Any] | None) -> None:
    """The runtime exists, runs on ``device`` and accepts ``options``: a user mistake is the
    same typed error on every executor, raised before any work (BAT-007)."""
    component = get_registry().get("runtime", runtime)
    with plugin_boundary(component, f"checking device {device!r}"):
        component.check_device(device)
    with plugin_boundary(component, "parsing the runtime options"):
        component.parse_options(dict(options or {}))


def _check_row_index(row_index: object, keep: list[str], model: Artifact) -> str | None:
    if row_index is None:
        return None
    if not isinstance(row_index, str) or not row_index:
        raise DatasetError(f"row_index must be a column name, got {row_index!r}",
                           hint="pass for example row_index='row'")
    taken = [*keep, *(binding.column for binding in model.columns.outputs)]
    if row_index in taken:
        raise DatasetError(
            f"row_index {row_index!r} is the name of another output column ({', '.join(taken)})",
            hint="choose another name for the row index column",
        )
    return row_index


def _checked_output_uri(output_uri: str | os.PathLike[str], mode: str, batch_size: int) -> str:
    """``output_uri`` as a string, once ``mode`` and ``batch_size`` are known to be valid."""
    output_uri = os.fspath(output_uri)
    if mode not in WRITE_MODES:
        raise DatasetError(
            f"unknown write mode {mode!r} for {output_uri!r}",
            hint=f"use one of {', '.join(WRITE_MODES)}",
        )
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise DatasetError(
            f"batch_size must be a positive number of rows, got {batch_size!r}",
            hint="pass for example batch_size=65536",
        )
    return output_uri


def _resolve_inputs(
    dataset: Dataset | str | os.PathLike[str],
    artifact: Artifact | str | os.PathLike[str],
    store: ArtifactStore | str | os.PathLike[str] | None,
    output_uri: str,
    casts: Mapping[str, str] | None,
    component: Executor,
) -> tuple[Dataset, Artifact]:
    """The dataset (as the model should see it, ``casts`` applied) and the artifact of the
    job, refusing an output that is the dataset."""
    from interlock.batch._casts import cast_dataset

    data = _resolve_dataset(dataset)
    if _same_place(data.uri, output_uri):
        raise DatasetError(
            f"output_uri {output_uri!r} is the dataset being read",
            hint="write the predictions to another URI",
        )
    return cast_dataset(data, casts, component), _resolve_artifact(artifact, store)


def _run(
    component: Executor, executor: str, job: BatchJob, lineage_job: str | None = None
) -> dict[str, Any]:
    """Record the job's lineage, hand the job to the executor and check the summary that
    comes back (BAT-006); OpenLineage events around it when configured (lineage.md LIN-040)."""
    from interlock.lineage import predict_events

    from interlock.batch._plan import _check_target

    _check_target(job)  # an existing output is refused before any executor starts (BAT-023)
    job.lineage = _lineage(job.dataset, job.artifact, job.runtime, job.device, executor)
    with predict_events(job, lineage_job) as lineage_run:
        with plugin_boundary(component, f"predicting {job.dataset.uri!r} with {job.artifact.ref}"):
            summary = component.run(job)
        if not isinstance(summary, dict) or any(key not in summary for key in _SUMMARY_KEYS):
            raise SpecViolation(
                f"executor {executor!r} returned {summary!r}; a summary dict with "
                f"{', '.join(_SUMMARY_KEYS)} is required (batch.md BAT-006)",
                component=executor,
                requirement="BAT-006",
            )
        lineage_run.rows_written = summary["rows"]
    return summary


def _same_place(a: str, b: str) -> bool:
    return a.rstrip("/") == b.rstrip("/")


def _resolve_dataset(dataset: Dataset | str | os.PathLike[str]) -> Dataset:
    from interlock.datasets import Dataset

    if isinstance(dataset, Dataset):
        return dataset
    if isinstance(dataset, str | os.PathLike):
        from interlock.datasets import open_dataset

        return open_dataset(dataset)
    raise DatasetError(
        f"dataset must be an interlock Dataset, a URI or an Arrow stream object, got a "
        f"{type(dataset).__name__}",
        hint="pass interlock.open_dataset(uri), the URI itself, or an object with "
        "__arrow_c_stream__ (a pyarrow Table, a polars DataFrame, ...)",
    )


def _resolve_artifact(
    artifact: Artifact | str | os.PathLike[str],
    store: ArtifactStore | str | os.PathLike[str] | None,
) -> Artifact:
    from interlock.artifacts import Artifact

    if isinstance(artifact, Artifact):
        return artifact
    from interlock.artifacts import load_artifact

    return load_artifact(artifact, store=store)


def _input_columns(model: Artifact) -> list[str]:
    columns: list[str] = []
    for binding in model.columns.inputs:
        columns.extend(binding.columns)
    return list(dict.fromkeys(columns))


def _reads(model: Artifact, text: TextJobOptions | None) -> dict[str, Any]:
    """The input columns of a job, and its text options as plain data."""
    if text is None:
        return {"input_columns": _input_columns(model), "text_options": None}
    return {"input_columns": [text.input_column], "text_options": text.to_dict()}


def _text_job(model: Artifact, options: Mapping[str, Any] | None) -> TextJobOptions | None:
    """The text options of a job over a text artifact; None for other artifacts."""
    text = model.manifest.text
    if text is None:
        if options is not None:
            raise DatasetError(
                f"text_options is given but {model.ref} is not a text model",
                hint="leave text_options out for models without a text section")
        return None
    from interlock.text import TextJobOptions

    return TextJobOptions.parse(options, text)


def _check_columns(
    data: Dataset, model: Artifact, keep_columns: Sequence[str] | None,
    text: TextJobOptions | None = None,
) -> list[str]:
    """Every column the job reads exists, and no kept column is overwritten by a prediction."""
    names = list(data.schema.names)
    present = set(names)
    if text is not None and text.input_column not in present:
        raise SignatureMismatch(
            f"dataset {data.uri!r} has no column {text.input_column!r} of texts for "
            f"{model.ref} (dataset columns: {_preview(names)})",
            hint="name the text column with text_options={'input_column': ...}")
    for binding in ([] if text is not None else model.columns.inputs):
        missing = [c for c in binding.columns if c not in present]
        if missing:
            raise SignatureMismatch(
                f"dataset {data.uri!r} lacks column(s) {missing} that input tensor "
                f"{binding.tensor!r} of {model.ref} reads (dataset columns: {_preview(names)})",
                hint="rename the dataset's columns to the ones the model was exported with "
                "(see 'columns' in the artifact's manifest)",
            )
    if keep_columns is None:
        return []
    if isinstance(keep_columns, str):
        keep_columns = [keep_columns]
    keep = list(dict.fromkeys(keep_columns))
    missing = [c for c in keep if c not in present]
    if missing:
        raise DatasetError(
            f"keep_columns names column(s) {missing} that dataset {data.uri!r} does not have "
            f"(dataset columns: {_preview(names)})",
            hint="keep only columns the dataset has",
        )
    outputs = {binding.column for binding in model.columns.outputs}
    if text is not None and model.manifest.text is not None:
        outputs = set(text.output_columns(model.manifest.text))
    clash = [c for c in keep if c in outputs]
    if clash:
        raise DatasetError(
            f"kept column(s) {clash} have the names of prediction columns of {model.ref}",
            hint="leave those columns out of keep_columns, or rename them in the dataset",
        )
    return keep


def _preview(names: list[str], limit: int = 10) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def _lineage(
    data: Dataset, model: Artifact, runtime: str, device: str, executor: str
) -> dict[str, Any]:
    """The lineage record of batch.md BAT-031."""
    from interlock import __version__

    created = _dt.datetime.now(_dt.timezone.utc).isoformat().replace("+00:00", "Z")
    return {
        "lineage_version": LINEAGE_VERSION,
        "artifact": {
            "ref": model.ref,
            "name": model.name,
            "version": model.version,
            "digest": model.digest,
        },
        "dataset": {"uri": data.uri, "fingerprint": data.fingerprint()},
        "runtime": runtime,
        "device": device,
        "executor": executor,
        "created_at": created,
        "interlock_version": __version__,
    }
