"""Lineage: OpenLineage run events from ``predict_dataset`` and ``export`` (spec: lineage.md).

Off unless OpenLineage is configured the way openlineage-python's client is configured
(``OPENLINEAGE_URL``, ``OPENLINEAGE__TRANSPORT__*``, ``openlineage.yml``); when off, nothing of
openlineage is imported. Names are imported on first use, so importing this package stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from interlock._facade import lazy_exports

_EXPORTS: dict[str, str] = {
    "LineageConfiguration": "_config",
    "lineage_configuration": "_config",
    "lineage_configured": "_config",
    "LineageRun": "_emit",
    "artifact_dataset": "_emit",
    "export_events": "_emit",
    "job_namespace": "_emit",
    "predict_events": "_emit",
    "run_events": "_emit",
    "DEFAULT_JOB_NAMESPACE": "_model",
    "LineageDataset": "_model",
    "MODEL_FACET_NAME": "_model",
    "MODEL_FACET_SCHEMA_URL": "_model",
    "MODEL_FACET_VERSION": "_model",
    "PRODUCER": "_model",
    "UNKNOWN_DIMENSION": "_model",
    "model_facet_fields": "_model",
    "dataset_name": "_naming",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:  # for type checkers and IDEs; kept equal to _EXPORTS by a test
    from interlock.lineage._config import (
        LineageConfiguration as LineageConfiguration,
        lineage_configuration as lineage_configuration,
        lineage_configured as lineage_configured,
    )
    from interlock.lineage._emit import (
        LineageRun as LineageRun,
        artifact_dataset as artifact_dataset,
        export_events as export_events,
        job_namespace as job_namespace,
        predict_events as predict_events,
        run_events as run_events,
    )
    from interlock.lineage._model import (
        DEFAULT_JOB_NAMESPACE as DEFAULT_JOB_NAMESPACE,
        LineageDataset as LineageDataset,
        MODEL_FACET_NAME as MODEL_FACET_NAME,
        MODEL_FACET_SCHEMA_URL as MODEL_FACET_SCHEMA_URL,
        MODEL_FACET_VERSION as MODEL_FACET_VERSION,
        PRODUCER as PRODUCER,
        UNKNOWN_DIMENSION as UNKNOWN_DIMENSION,
        model_facet_fields as model_facet_fields,
    )
    from interlock.lineage._naming import (
        dataset_name as dataset_name,
    )
