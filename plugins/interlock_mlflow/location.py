"""Where an ``mlflow`` store lives: the tracking/registry URI and the artifact root, read from
the store's root URI.

A root is MLflow's own tracking URI behind an ``mlflow+`` prefix, with two optional query
parameters of interlock's (every other query parameter stays on the tracking URI)::

    mlflow+sqlite:////srv/mlflow/mlflow.db           (artifacts in /srv/mlflow/mlartifacts)
    mlflow+sqlite:////srv/mlflow/mlflow.db?artifact_root=s3://models/mlflow
    mlflow+http://127.0.0.1:5000?artifact_root=/srv/mlflow/artifacts&experiment=team-a

``artifact_root`` is where the runs of the store's experiment keep their files (any URI MLflow
can write and fsspec can read; the experiment is created with it); ``experiment`` names that
experiment (default ``interlock``). Nothing here imports MLflow.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote, urlencode

from interlock.errors import ArtifactError

__all__ = ["PREFIX", "PROTOCOLS", "StoreLocation", "parse_root"]

PREFIX = "mlflow+"
#: The root protocols the store serves (``open_store`` matches a root's scheme against them).
PROTOCOLS = ("mlflow+sqlite", "mlflow+http", "mlflow+https")
#: The experiment whose runs hold the published artifacts, unless the root names another.
DEFAULT_EXPERIMENT = "interlock"
_OPTIONS = ("artifact_root", "experiment")
_FORM = "mlflow+sqlite:////path/mlflow.db or mlflow+http://HOST:PORT?artifact_root=URI"


@dataclass(frozen=True)
class StoreLocation:
    """The parts of a root URI."""

    #: MLflow's tracking URI, also used as its registry URI.
    tracking_uri: str
    #: Where the experiment's runs keep their files; ``None``: the experiment's own location,
    #: or for SQLite a directory ``mlartifacts`` beside the database file.
    artifact_root: str | None
    experiment: str

    @property
    def is_http(self) -> bool:
        return self.tracking_uri.startswith(("http://", "https://"))

    def sqlite_file(self) -> str | None:
        """The SQLite database file the tracking URI names, else ``None``."""
        if not self.tracking_uri.startswith("sqlite:///"):
            return None
        database = self.tracking_uri[len("sqlite:///") :].split("?", 1)[0]
        return None if not database or database == ":memory:" else os.path.abspath(database)

    def default_artifact_root(self) -> str | None:
        """``mlartifacts`` beside a SQLite database file; ``None`` for a server."""
        database = self.sqlite_file()
        return None if database is None else os.path.join(os.path.dirname(database), "mlartifacts")


def parse_root(root: str) -> StoreLocation:
    """Split a root URI into MLflow's tracking URI and interlock's options (module docstring).

    Raises :class:`interlock.ArtifactError` for a root that is not ``mlflow+<tracking URI>``.
    """
    if not root.startswith(PREFIX) or "://" not in root:
        raise ArtifactError(
            f"{root!r} is not an MLflow store root",
            hint=f"write the MLflow tracking URI behind 'mlflow+', e.g. {_FORM}",
        )
    tracking, _, query = root[len(PREFIX) :].partition("?")
    scheme = tracking.split("://", 1)[0]
    if f"{PREFIX}{scheme}" not in PROTOCOLS:
        raise ArtifactError(
            f"the MLflow store does not serve {scheme!r} tracking URIs ({root!r})",
            hint=f"use one of {', '.join(PROTOCOLS)}, e.g. {_FORM}",
        )
    options: dict[str, str] = {}
    kept: list[tuple[str, str]] = []
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key in _OPTIONS:
            options[key] = unquote(value)
        else:
            kept.append((key, value))
    if kept:
        tracking = f"{tracking}?{urlencode(kept)}"
    if not tracking.split("://", 1)[1].strip("/").split("?", 1)[0]:
        raise ArtifactError(
            f"{root!r} names no tracking server or database", hint=f"e.g. {_FORM}"
        )
    for key in _OPTIONS:
        if key in options and not options[key]:
            raise ArtifactError(f"the {key} of {root!r} is empty", hint=f"e.g. {_FORM}")
    return StoreLocation(
        tracking_uri=tracking.rstrip("/") if scheme.startswith("http") else tracking,
        artifact_root=options.get("artifact_root"),
        experiment=options.get("experiment", DEFAULT_EXPERIMENT),
    )
