"""The interop matrix: every installed component checked with every other (spec:
conformance.md, CONF-050 to CONF-057).

::

    from interlock_conformance.matrix import run_matrix

    result = run_matrix("interlock-matrix")      # writes matrix.json and matrix.md there
    print(result.passed)
    for cell in result.failed_cells():
        print(cell.row, cell.column, cell.failed_requirement, cell.message)

Where ``interlock certify`` checks one plugin against the spec, the matrix checks that the
components in effect (one per kind and name, as the plugin registry resolves them) work
together: data written by one format and rewritten by another, artifacts saved by each store
and run by each runtime, runtimes against each other, exporters' models through each runtime,
each runtime behind each server with a standard client, each executor with each runtime.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import shutil
import sys
import tempfile
from collections.abc import Callable, Collection
from importlib import metadata
from pathlib import Path
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

import interlock
from interlock import InterlockError

from interlock_conformance.locations import SPEC_VERSION
from interlock_conformance.matrix.cells import (
    MatrixCell,
    MatrixComponent,
    MatrixContext,
    MatrixSection,
)
from interlock_conformance.report import Environment, _write_atomically

__all__ = [
    "MATRIX_FILES",
    "SECTIONS",
    "MatrixCell",
    "MatrixComponent",
    "MatrixResult",
    "MatrixSection",
    "read_matrix",
    "run_matrix",
    "write_matrix",
]

#: The files :func:`write_matrix` writes (CONF-057).
MATRIX_FILES = ("matrix.json", "matrix.md")

#: The sections of the matrix, in the order they run, with the requirement each checks.
SECTIONS: dict[str, str] = {
    "datasets": "CONF-051",
    "stores": "CONF-052",
    "runtimes": "CONF-053",
    "exporters": "CONF-054",
    "servers": "CONF-055",
    "executors": "CONF-056",
    "text": "CONF-058",
}

#: What each section does, for the progress lines.
_SECTION_LABELS = {
    "datasets": "every dataset format's output rewritten by every other",
    "stores": "artifacts saved in every store, run by every runtime",
    "runtimes": "every runtime against every other on the golden models",
    "exporters": "every exporter's models run by every runtime",
    "servers": "every runtime behind every server, called by a standard client",
    "executors": "every executor with every runtime",
    "text": "every text engine against interlock's own loop on every runtime",
}

_PACKAGES = ("interlock", "pyarrow", "numpy", "onnx", "onnxruntime", "fsspec", "tritonclient")


class MatrixResult(BaseModel):
    """``matrix.json``: the outcome of one ``interlock matrix`` run."""

    model_config = ConfigDict(extra="forbid")

    matrix_version: Literal["1"] = "1"
    spec_version: str
    suite_version: str
    environment: Environment
    started_at: AwareDatetime
    finished_at: AwareDatetime
    duration_s: float = Field(ge=0)
    components: list[MatrixComponent]
    problems: list[str] = Field(
        default_factory=list,
        description="Plugins that did not load and names the registry cannot resolve.",
    )
    sections: list[MatrixSection]

    @property
    def passed(self) -> bool:
        """No cell failed and every installed plugin loaded (CONF-050)."""
        return not self.problems and not self.failed_cells()

    def failed_cells(self) -> list[MatrixCell]:
        """Every failed cell, section by section."""
        return [cell for section in self.sections for cell in section.failed()]

    def section(self, name: str) -> MatrixSection:
        """One section by name; ``KeyError`` if it did not run."""
        for section in self.sections:
            if section.name == name:
                return section
        raise KeyError(name)


def run_matrix(
    output_dir: str | os.PathLike[str] | None = None,
    *,
    sections: Collection[str] | None = None,
    say: Callable[[str], None] | None = None,
) -> MatrixResult:
    """Check every cross-component pair among the installed plugins and return the matrix.

    ``sections`` limits the run to some of :data:`SECTIONS` (all by default). ``say`` is told
    one line per section as it starts (progress for people). With ``output_dir`` the matrix is
    also written there as ``matrix.json`` and ``matrix.md``. Everything the run creates lives
    in a scratch directory (and ``memory://``) that is removed at the end; servers listen on
    127.0.0.1 only. Raises :class:`interlock.InterlockError` for an unknown section name.
    """
    chosen = list(SECTIONS) if sections is None else list(sections)
    unknown = [name for name in chosen if name not in SECTIONS]
    if unknown:
        raise InterlockError(
            f"unknown matrix section(s): {', '.join(unknown)}",
            hint=f"choose among: {', '.join(SECTIONS)}",
        )
    started = dt.datetime.now(dt.timezone.utc)
    registry = interlock.get_registry()
    scratch = Path(tempfile.mkdtemp(prefix="interlock-matrix-"))
    context = MatrixContext(registry, scratch)
    results: list[MatrixSection] = []
    try:
        for name in SECTIONS:
            if name not in chosen:
                continue
            if say is not None:
                say(f"{name}: {_SECTION_LABELS[name]}")
            results.append(_runner(name)(context))
    finally:
        context.close()
        shutil.rmtree(scratch, ignore_errors=True)
    finished = dt.datetime.now(dt.timezone.utc)
    result = MatrixResult(
        spec_version=SPEC_VERSION,
        suite_version=interlock.__version__,
        environment=_environment(),
        started_at=started,
        finished_at=finished,
        duration_s=(finished - started).total_seconds(),
        components=context.component_summaries(),
        problems=context.problems(),
        sections=results,
    )
    if output_dir is not None:
        write_matrix(result, output_dir)
    return result


def _runner(name: str) -> Callable[[MatrixContext], MatrixSection]:
    # Each section's module is imported when it runs: the servers' one pulls in the clients.
    if name == "datasets":
        from interlock_conformance.matrix.datasets import dataset_section

        return dataset_section
    if name == "servers":
        from interlock_conformance.matrix.servers import server_section

        return server_section
    if name == "exporters":
        from interlock_conformance.matrix.exporters import exporter_section

        return exporter_section
    if name == "text":
        from interlock_conformance.matrix.text import text_section

        return text_section
    from interlock_conformance.matrix import runtimes

    runners: dict[str, Callable[[MatrixContext], MatrixSection]] = {
        "stores": runtimes.store_section,
        "runtimes": runtimes.runtime_section,
        "executors": runtimes.executor_section,
    }
    return runners[name]


def _environment() -> Environment:
    packages = {}
    for name in _PACKAGES:
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return Environment(
        python=f"{platform.python_implementation()} {platform.python_version()}",
        platform=f"{sys.platform} ({platform.platform()})",
        packages=packages,
    )


def write_matrix(result: MatrixResult, directory: str | os.PathLike[str]) -> dict[str, Path]:
    """Write ``matrix.json`` and ``matrix.md`` into ``directory`` (created if needed), each
    replaced atomically; returns their paths by file name."""
    from interlock_conformance.matrix.render import matrix_markdown

    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    contents = {
        "matrix.json": result.model_dump_json(indent=2).encode() + b"\n",
        "matrix.md": matrix_markdown(result).encode("utf-8"),
    }
    written = {}
    for name, data in contents.items():
        _write_atomically(target / name, data)
        written[name] = target / name
    return written


def read_matrix(path: str | os.PathLike[str]) -> MatrixResult:
    """Read and validate a ``matrix.json``."""
    return MatrixResult.model_validate_json(Path(path).read_bytes())
