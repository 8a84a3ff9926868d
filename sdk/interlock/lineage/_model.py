"""What a lineage run reads and writes, and the ``interlock_model`` facet (lineage.md LIN-030).

Nothing here imports openlineage: these are plain values that :mod:`interlock.lineage._events`
turns into the client's event objects when lineage is on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

    from interlock.artifacts import Artifact

__all__ = [
    "DEFAULT_JOB_NAMESPACE",
    "LineageDataset",
    "MODEL_FACET_NAME",
    "MODEL_FACET_SCHEMA_URL",
    "MODEL_FACET_VERSION",
    "PRODUCER",
    "UNKNOWN_DIMENSION",
    "model_facet_fields",
]

#: The job namespace when ``$OPENLINEAGE_NAMESPACE`` is not set (lineage.md LIN-011).
DEFAULT_JOB_NAMESPACE = "interlock"
#: The key of the custom dataset facet that describes a model artifact.
MODEL_FACET_NAME = "interlock_model"
#: Version of the ``interlock_model`` facet's schema, in OpenLineage's ``MAJOR-MINOR-PATCH``.
MODEL_FACET_VERSION = "1-0-0"
#: Base of the URLs of interlock's published JSON Schemas (specs/v1/schemas); each schema's
#: ``$id`` is its URL, so a consumer holding a copy of the specs resolves it without a fetch.
SCHEMA_BASE_URL = "https://interlock.dev/spec/v1/schemas/"
#: ``_schemaURL`` of the ``interlock_model`` facet: a JSON Pointer into its schema file.
MODEL_FACET_SCHEMA_URL = (
    f"{SCHEMA_BASE_URL}interlock_model-facet-{MODEL_FACET_VERSION}.schema.json"
    "#/$defs/InterlockModelDatasetFacet"
)
#: A dimension with neither a size nor a name, in the facet's shapes: openlineage-python's
#: serializer drops ``null`` list items, so the facet writes ``-1`` (as Triton and KServe do).
UNKNOWN_DIMENSION = -1


def _producer() -> str:
    from interlock import __version__

    return f"https://pypi.org/project/interlock/{__version__}/"


#: The ``producer`` of every event and ``_producer`` of every facet interlock emits.
PRODUCER = _producer()


@dataclass
class LineageDataset:
    """A dataset a run reads or writes, as lineage events describe it.

    ``uri`` gives the OpenLineage namespace and name (:func:`interlock.lineage.dataset_name`);
    ``schema`` the ``schema`` facet; ``version`` the ``version`` facet (``datasetVersion``: a
    dataset's fingerprint, an artifact's digest); ``artifact`` the ``interlock_model`` facet;
    ``row_count``, ``size`` (bytes) and ``file_count``, on an output, the ``outputStatistics``
    facet. ``None`` leaves a facet out.
    """

    uri: str
    schema: pa.Schema | None = None
    version: str | None = None
    artifact: Artifact | None = None
    row_count: int | None = None
    size: int | None = None
    file_count: int | None = None


def model_facet_fields(artifact: Artifact) -> dict[str, Any]:
    """The ``interlock_model`` facet's own fields for ``artifact`` (without ``_producer`` and
    ``_schemaURL``): ``name``, ``version``, ``digest``, ``signature`` and ``producer``."""
    signature = artifact.signature
    return {
        "name": artifact.name,
        "version": artifact.version,
        "digest": artifact.digest,
        "signature": {
            "inputs": [_tensor(spec) for spec in signature.inputs],
            "outputs": [_tensor(spec) for spec in signature.outputs],
        },
        "producer": artifact.manifest.producer.model_dump(mode="json"),
    }


def _tensor(spec: Any) -> dict[str, Any]:
    shape = [UNKNOWN_DIMENSION if dim is None else dim for dim in spec.shape]
    return {"name": spec.name, "dtype": spec.dtype, "shape": shape}
