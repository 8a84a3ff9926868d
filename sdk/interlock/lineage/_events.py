"""OpenLineage run events built with openlineage-python's own classes (lineage.md LIN-010..033).

Imported only once lineage is on: this is the one module of interlock that imports openlineage.
"""

from __future__ import annotations

import datetime as _dt
import os
import traceback
import uuid
from typing import TYPE_CHECKING, Any

import attr
from openlineage.client import event_v2
from openlineage.client.facet_v2 import (
    DatasetFacet,
    dataset_version_dataset,
    error_message_run,
    job_type_job,
    output_statistics_output_dataset,
    parent_run,
    processing_engine_run,
    schema_dataset,
)
from openlineage.client.uuid import generate_new_uuid

from interlock.lineage._model import (
    MODEL_FACET_NAME,
    MODEL_FACET_SCHEMA_URL,
    PRODUCER,
    LineageDataset,
    model_facet_fields,
)
from interlock.lineage._naming import dataset_name

if TYPE_CHECKING:
    import pyarrow as pa

    from interlock.lineage._emit import LineageRun

__all__ = ["InterlockModelDatasetFacet", "new_run_id", "run_event"]

_STATES = {
    "START": event_v2.RunState.START,
    "COMPLETE": event_v2.RunState.COMPLETE,
    "FAIL": event_v2.RunState.FAIL,
    "ABORT": event_v2.RunState.ABORT,
}


@attr.define(kw_only=True)
class InterlockModelDatasetFacet(DatasetFacet):
    """The ``interlock_model`` dataset facet: a model artifact seen as a dataset."""

    name: str
    version: str
    digest: str
    signature: dict[str, Any]
    # ``producer`` (the artifact's maker) is also the init name of the base facet's
    # ``_producer`` (the event's maker), hence the alias.
    producer: dict[str, Any] = attr.field(alias="model_producer")

    @staticmethod
    def _get_schema() -> str:
        return MODEL_FACET_SCHEMA_URL


def new_run_id() -> str:
    """A fresh run id: a UUIDv7, as OpenLineage recommends (time-ordered)."""
    return str(generate_new_uuid())


def run_event(run: LineageRun, state: str, error: BaseException | None = None) -> Any:
    """The RunEvent of ``run`` in ``state`` (START, COMPLETE, FAIL or ABORT)."""
    from interlock import __version__

    run_facets: dict[str, Any] = {
        "processing_engine": processing_engine_run.ProcessingEngineRunFacet(
            version=__version__, name="interlock", openlineageAdapterVersion=__version__,
            producer=PRODUCER,
        ),
    }
    parent = _parent_facet()
    if parent is not None:
        run_facets["parent"] = parent
    if error is not None:
        run_facets["errorMessage"] = _error_facet(error)
    job_facets: dict[str, Any] = {
        "jobType": job_type_job.JobTypeJobFacet(
            processingType="BATCH", integration="INTERLOCK", jobType=run.job_type,
            producer=PRODUCER,
        ),
    }
    assert run.run_id is not None, "events are built for enabled runs only"
    return event_v2.RunEvent(
        eventType=_STATES[state],
        eventTime=_dt.datetime.now(_dt.timezone.utc).isoformat(),
        run=event_v2.Run(runId=run.run_id, facets=run_facets),
        job=event_v2.Job(namespace=run.namespace, name=run.name, facets=job_facets),
        inputs=[_input(dataset) for dataset in run.inputs],
        outputs=[_output(dataset, statistics=state == "COMPLETE") for dataset in run.outputs],
        producer=PRODUCER,
    )


def _run_reference(variable: str) -> tuple[str, str, str] | None:
    """``(namespace, name, runId)`` from ``$variable`` written ``<namespace>/<name>/<runId>``
    (the form of the Airflow provider's ``lineage_parent_id`` macro, read by dbt-ol too);
    ``None`` when unset or not of that form."""
    parts = os.environ.get(variable, "").strip().rsplit("/", 2)
    if len(parts) != 3 or not all(parts):
        return None
    try:
        run_id = str(uuid.UUID(parts[2]))
    except ValueError:
        return None
    return parts[0], parts[1], run_id


def _parent_facet() -> Any:
    """The ``parent`` run facet from ``OPENLINEAGE_PARENT_ID`` (and ``root`` from
    ``OPENLINEAGE_ROOT_PARENT_ID``), so that a job started by an orchestrator's task hangs
    under that task's run (LIN-014); ``None`` without a parent."""
    parent = _run_reference("OPENLINEAGE_PARENT_ID")
    if parent is None:
        return None
    root = _run_reference("OPENLINEAGE_ROOT_PARENT_ID")
    return parent_run.ParentRunFacet(
        run=parent_run.Run(runId=parent[2]),
        job=parent_run.Job(namespace=parent[0], name=parent[1]),
        root=None if root is None else parent_run.Root(
            run=parent_run.RootRun(runId=root[2]),
            job=parent_run.RootJob(namespace=root[0], name=root[1]),
        ),
        producer=PRODUCER,
    )


def _error_facet(error: BaseException) -> Any:
    message = f"{type(error).__name__}: {error}"
    hint = getattr(error, "hint", None)
    if hint:
        message += f" (hint: {hint})"
    stack = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    return error_message_run.ErrorMessageRunFacet(
        message=message, programmingLanguage="PYTHON", stackTrace=stack, producer=PRODUCER
    )


def _dataset_facets(dataset: LineageDataset) -> dict[str, Any]:
    facets: dict[str, Any] = {}
    if dataset.schema is not None:
        facets["schema"] = schema_dataset.SchemaDatasetFacet(
            fields=[_field(field) for field in dataset.schema], producer=PRODUCER
        )
    if dataset.version is not None:
        facets["version"] = dataset_version_dataset.DatasetVersionDatasetFacet(
            datasetVersion=dataset.version, producer=PRODUCER
        )
    if dataset.artifact is not None:
        fields = model_facet_fields(dataset.artifact)
        model_producer = fields.pop("producer")
        facets[MODEL_FACET_NAME] = InterlockModelDatasetFacet(
            **fields, model_producer=model_producer, producer=PRODUCER
        )
    return facets


def _field(field: pa.Field) -> Any:
    """A schema facet field: the Arrow type as Arrow writes it, struct children nested."""
    import pyarrow as pa

    children = [_field(child) for child in field.type] if pa.types.is_struct(field.type) else []
    return schema_dataset.SchemaDatasetFacetFields(
        name=field.name, type=str(field.type), fields=children or None
    )


def _input(dataset: LineageDataset) -> Any:
    namespace, name = dataset_name(dataset.uri)
    return event_v2.InputDataset(namespace=namespace, name=name, facets=_dataset_facets(dataset))


def _output(dataset: LineageDataset, statistics: bool) -> Any:
    namespace, name = dataset_name(dataset.uri)
    output_facets: dict[str, Any] = {}
    if statistics and dataset.row_count is not None:
        output_facets["outputStatistics"] = (
            output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
                rowCount=dataset.row_count, size=dataset.size, fileCount=dataset.file_count,
                producer=PRODUCER,
            )
        )
    return event_v2.OutputDataset(
        namespace=namespace, name=name, facets=_dataset_facets(dataset),
        outputFacets=output_facets,
    )
