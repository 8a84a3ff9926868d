"""Executors: run a batch prediction job (dataset -> predictions -> dataset), spec: batch.md."""

from __future__ import annotations

import contextlib
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from interlock.plugins import Component, parse_options

if TYPE_CHECKING:
    from pydantic import BaseModel

    from interlock.artifacts import Artifact
    from interlock.datasets import Dataset

__all__ = ["LINEAGE_METADATA_KEY", "BatchJob", "Executor"]

#: Key of the output schema's metadata entry that records where the predictions came from.
LINEAGE_METADATA_KEY = "interlock.lineage"


@dataclass
class BatchJob:
    """One batch prediction job, as the core hands it to an executor.

    Everything has been checked by :func:`interlock.predict_dataset` before the executor sees
    it: the dataset holds ``input_columns`` and ``keep_columns``, no kept column collides with
    a prediction column, ``mode`` is one of ``error``, ``overwrite`` and ``append``.
    """

    dataset: Dataset
    artifact: Artifact
    output_uri: str
    output_format: str | None
    runtime: str
    device: str
    batch_size: int
    mode: str
    progress: bool
    runtime_options: dict[str, Any]
    #: Options for the output format's writer, passed to ``write_dataset``.
    write_options: dict[str, Any] = field(default_factory=dict)
    #: Dataset columns copied, unchanged and in this order, in front of the predictions.
    keep_columns: list[str] = field(default_factory=list)
    #: Dataset columns the model reads (from the artifact's column mapping), in order.
    input_columns: list[str] = field(default_factory=list)
    #: The lineage record (batch.md BAT-030) an executor stores in the output schema metadata.
    lineage: dict[str, Any] = field(default_factory=dict)
    #: The executor's options, as its :meth:`Executor.parse_options` returned them.
    executor_options: Any = None
    #: Skip the shards that an earlier run of the same job completed (batch.md BAT-050).
    resume: bool = False
    #: Name of an ``int64`` column, first in the output, holding each row's number in the
    #: dataset (batch.md BAT-025), or None.
    row_index: str | None = None
    #: For a text artifact (spec text.md): how the job reads and writes text, as plain data
    #: (``interlock.text.TextJobOptions.to_dict``); None for other artifacts.
    text_options: dict[str, Any] | None = None

    def load_predictor(self) -> Any:
        """The predictor of the job for this process: the runtime's, or for a text artifact
        the text batch predictor over it (both have ``predict(batch)``)."""
        from interlock.batch._shards import load_job_predictor

        return load_job_predictor(self.artifact, self.runtime, self.device,
                                  self.runtime_options, self.text_options)

    @property
    def read_columns(self) -> list[str]:
        """The columns to read from the dataset: inputs, then kept columns, each once."""
        return list(dict.fromkeys([*self.input_columns, *self.keep_columns]))

    def schema_metadata(self) -> dict[bytes, bytes]:
        """The output schema metadata: ``{b"interlock.lineage": <lineage JSON>}``."""
        text = json.dumps(self.lineage, sort_keys=True, separators=(",", ":"))
        return {LINEAGE_METADATA_KEY.encode(): text.encode()}


class Executor(Component, ABC, kind="executor"):
    """Runs :class:`BatchJob` s on some engine (the local machine, Ray Data, ...).

    An executor reads ``job.read_columns`` from ``job.dataset`` in batches of at most
    ``job.batch_size`` rows, runs each through a predictor loaded with
    :func:`interlock.load_predictor`, and writes the kept columns followed by the prediction
    columns with :func:`interlock.write_dataset`, the output schema carrying
    :meth:`BatchJob.schema_metadata` (spec: batch.md).
    """

    @property
    def options_model(self) -> type[BaseModel] | None:
        """The pydantic model of this executor's options (``extra="forbid"``), or None if it
        takes none. A property, so that pydantic is imported only when options are parsed."""
        return None

    def parse_options(self, options: Mapping[str, Any]) -> Any:
        """Validate ``executor_options`` against :attr:`options_model` and return the model
        instance (None for an executor without options); raises
        :class:`interlock.InterlockError` naming the executor and each bad option (BAT-007)."""
        return parse_options(self, self.options_model, options,
                             without_options="call predict_dataset() without executor_options")

    def session(self, options: Any = None) -> AbstractContextManager[dict[str, Any]]:
        """Keep the engine this executor would start for one job running for several.

        ``options`` is what :meth:`parse_options` returned (None: the defaults). The context
        yields the ``executor_options`` under which jobs run on the kept engine (for Dask, the
        address of a LocalCluster started here), and stops what it started on exit (BAT-047).
        The default keeps nothing and yields no options: an executor that starts no engine
        needs no session.
        """
        return contextlib.nullcontext({})

    @abstractmethod
    def run(self, job: BatchJob) -> dict[str, Any]:
        """Run the job to completion and return a summary.

        The summary holds at least ``rows``, ``batches``, ``seconds``, ``rows_per_second`` and
        ``output_uri``.
        """
