"""Emitting a run's START, then COMPLETE, FAIL or ABORT (spec: lineage.md).

:func:`run_events` is a context manager around the work of one run. When lineage is off it
costs a few environment look-ups and imports nothing; when it is on, events go through
openlineage-python's ``OpenLineageClient()`` with the client's own configuration. Lineage never
fails the user's work: a transport that cannot deliver is logged once, as a warning that says
what to fix, and the work goes on.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any

from interlock.errors import InterlockError
from interlock.lineage._config import LineageConfiguration, lineage_configuration
from interlock.lineage._model import DEFAULT_JOB_NAMESPACE, LineageDataset

if TYPE_CHECKING:
    from interlock.artifacts import Artifact, LineageEntry
    from interlock.batch import BatchJob

__all__ = ["LineageRun", "artifact_dataset", "export_events", "predict_events", "run_events"]

logger = logging.getLogger("interlock.lineage")
_warned: set[str] = set()


@dataclass
class LineageRun:
    """One run of a job, as its lineage events describe it.

    ``inputs`` and ``outputs`` may be changed inside the ``with`` block (an output found only at
    the end, rows written): COMPLETE describes them as they are when the block ends.
    ``run_id`` is the OpenLineage ``runId`` (a UUID), ``None`` when lineage is off.
    """

    namespace: str
    name: str
    job_type: str
    inputs: list[LineageDataset] = field(default_factory=list)
    outputs: list[LineageDataset] = field(default_factory=list)
    run_id: str | None = None
    #: Rows the run wrote (``outputStatistics.rowCount`` of its output), when the caller knows.
    rows_written: int | None = None

    @property
    def enabled(self) -> bool:
        """Whether events are being emitted for this run."""
        return self.run_id is not None


class _RunEvents:
    """The context manager :func:`run_events` returns."""

    def __init__(
        self,
        run: LineageRun,
        describe: Callable[[LineageRun], None] | None = None,
        finish: Callable[[LineageRun], None] | None = None,
    ) -> None:
        self.run = run
        self._describe = describe
        self._finish = finish
        self._config: LineageConfiguration | None = None
        self._client: Any = None

    def __enter__(self) -> LineageRun:
        config = lineage_configuration()
        if not config.enabled:
            return self.run
        self._config = config
        try:
            from openlineage.client import OpenLineageClient

            from interlock.lineage._events import new_run_id

            self._client = OpenLineageClient()
            if self._describe is not None:
                self._describe(self.run)
            self.run.run_id = new_run_id()
        except Exception as exc:  # lineage must never fail the job (LIN-004)
            self._client = None
            _warn_once(config, self.run, exc)
            return self.run
        self._emit("START", None)
        return self.run

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._client is None or not self.run.enabled:
            return
        if exc is None:
            if self._finish is not None:
                try:
                    self._finish(self.run)
                except Exception as error:  # a statistic less, never a failed job
                    logger.debug("lineage: could not describe the outputs: %s", error)
            self._emit("COMPLETE", None)
        else:
            self._emit("FAIL" if isinstance(exc, Exception) else "ABORT", exc)
        try:
            self._client.close()
        except Exception as error:
            logger.debug("lineage: closing the OpenLineage client failed: %s", error)

    def _emit(self, state: str, error: BaseException | None) -> None:
        assert self._config is not None
        try:
            from interlock.lineage._events import run_event

            self._client.emit(run_event(self.run, state, error))
        except Exception as exc:  # lineage must never fail the job (LIN-004)
            _warn_once(self._config, self.run, exc)


def _warn_once(config: LineageConfiguration, run: LineageRun, exc: BaseException) -> None:
    """Log one warning per configuration source, saying what to fix (LIN-004)."""
    key = f"{config.source}:{type(exc).__name__}"
    if key in _warned:
        logger.debug("lineage: another event was not emitted: %s", exc)
        return
    _warned.add(key)
    if isinstance(exc, ImportError):
        fix = "install the OpenLineage client: pip install 'interlock[lineage]'"
    else:
        fix = (f"check the OpenLineage transport configured by {config.source} (is the "
               "collector up, is the path writable?)")
    logger.warning(
        "OpenLineage events of job %s/%s are not emitted (%s: %s); the job itself goes on. "
        "To fix: %s, or set OPENLINEAGE_DISABLED=true to switch lineage events off.",
        run.namespace, run.name, type(exc).__name__, exc, fix,
    )


def job_namespace() -> str:
    """The job namespace: ``$OPENLINEAGE_NAMESPACE``, else ``interlock`` (LIN-011)."""
    return os.environ.get("OPENLINEAGE_NAMESPACE", "").strip() or DEFAULT_JOB_NAMESPACE


def _checked_job_name(job_name: object, default: str) -> str:
    if job_name is None:
        return default
    if not isinstance(job_name, str) or not job_name.strip():
        raise InterlockError(
            f"lineage_job must be a non-empty job name, got {job_name!r}",
            hint="pass for example lineage_job='nightly-scoring', or leave it out for "
            f"{default!r}",
        )
    return job_name


def run_events(
    name: str,
    *,
    job_type: str = "JOB",
    inputs: Iterable[LineageDataset] = (),
    outputs: Iterable[LineageDataset] = (),
    namespace: str | None = None,
) -> _RunEvents:
    """A context manager that emits the OpenLineage events of one run of job ``name``.

    START on entry; on exit COMPLETE, or FAIL with the ``errorMessage`` facet when the block
    raises an exception (ABORT for ``KeyboardInterrupt`` and other non-``Exception`` exits); the
    exception is never swallowed. The ``with`` target is the :class:`LineageRun`. Nothing is
    emitted, and openlineage is not imported, unless OpenLineage is configured
    (:func:`interlock.lineage.lineage_configured`). ``job_type`` is the ``jobType`` of the
    ``jobType`` job facet; ``namespace`` defaults to ``$OPENLINEAGE_NAMESPACE`` or
    ``interlock``.
    """
    run = LineageRun(
        namespace=namespace or job_namespace(), name=_checked_job_name(name, "job"),
        job_type=job_type, inputs=list(inputs), outputs=list(outputs),
    )
    return _RunEvents(run)


def predict_events(job: BatchJob, job_name: str | None = None) -> _RunEvents:
    """The events of one ``predict_dataset`` job (LIN-040), named ``predict:<artifact name>``
    unless ``job_name`` is given. Set ``rows_written`` on the run before the block ends."""
    name = _checked_job_name(job_name, f"predict:{job.artifact.name}")
    run = LineageRun(namespace=job_namespace(), name=name, job_type="PREDICT")

    def describe(run: LineageRun) -> None:
        fingerprint = job.lineage.get("dataset", {}).get("fingerprint")
        run.inputs = [
            LineageDataset(uri=job.dataset.uri, schema=job.dataset.schema,
                           version=fingerprint or job.dataset.fingerprint()),
            artifact_dataset(job.artifact),
        ]
        run.outputs = [LineageDataset(uri=job.output_uri)]

    def finish(run: LineageRun) -> None:
        from interlock.datasets import open_dataset

        output = run.outputs[0]
        output.row_count = run.rows_written
        written = open_dataset(job.output_uri, format=job.output_format)
        output.schema = written.schema
        if job.mode != "append":  # else the dataset's size is not what this run wrote
            files = written.files()
            output.file_count = len(files)
            output.size = sum(int(written.filesystem.size(path)) for path in files)

    return _RunEvents(run, describe, finish)


def export_events(
    artifact_name: str, training: Sequence[LineageEntry] = (), job_name: str | None = None
) -> _RunEvents:
    """The events of one ``interlock.export`` (LIN-050), named ``export:<artifact name>``
    unless ``job_name`` is given; append the saved artifact to the run's outputs with
    :func:`artifact_dataset` before the block ends."""
    name = _checked_job_name(job_name, f"export:{artifact_name}")
    run = LineageRun(namespace=job_namespace(), name=name, job_type="EXPORT")

    def describe(run: LineageRun) -> None:
        run.inputs = [_training_input(entry) for entry in training]

    return _RunEvents(run, describe)


def _training_input(entry: LineageEntry) -> LineageDataset:
    dataset = LineageDataset(uri=entry.uri, version=entry.fingerprint)
    try:
        from interlock.datasets import open_dataset

        dataset.schema = open_dataset(entry.uri).schema
    except Exception as error:  # the schema facet is left out, the run goes on
        logger.debug("lineage: no schema for %s: %s", entry.uri, error)
    return dataset


def artifact_dataset(artifact: Artifact) -> LineageDataset:
    """``artifact`` as a lineage dataset: named from its URI, ``version`` = its digest, with
    the ``interlock_model`` facet (LIN-030)."""
    return LineageDataset(uri=artifact.uri, version=artifact.digest, artifact=artifact)
