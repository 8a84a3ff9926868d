"""Executors: run a batch prediction job (dataset -> predictions -> dataset)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from interlock._component import Component

if TYPE_CHECKING:
    from interlock._artifact import Artifact
    from interlock._dataset import Dataset

__all__ = ["BatchJob", "Executor"]


@dataclass
class BatchJob:
    """One batch prediction job, as the core hands it to an executor."""

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


class Executor(Component, ABC):
    """Runs :class:`BatchJob` s on some engine (the local machine, Ray Data, ...)."""

    @abstractmethod
    def run(self, job: BatchJob) -> dict[str, Any]:
        """Run the job to completion and return a summary (rows, batches, seconds, ...)."""
