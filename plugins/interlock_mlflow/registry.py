"""The MLflow side of the ``mlflow`` store: one client per store, the searches that find
published versions, and the registration that decides which of several concurrent publishers
of one version wins.

How interlock versions map onto MLflow's registry: an interlock artifact ``NAME:VERSION`` is a
model version of the registered model ``NAME`` carrying the tags ``interlock.version``
(VERSION), ``interlock.digest`` and ``interlock.created_at`` (from the manifest). MLflow numbers
model versions itself (1, 2, 3, ... per registered model); those numbers are not interlock
versions. Among model versions tagged with the same ``interlock.version``, the one with the
lowest MLflow number *is* the interlock version: MLflow assigns each number once, in a
database transaction, so the first registration of a version keeps it forever, and a later
concurrent registration of the same version sees the earlier one and withdraws itself.

MLflow is imported here, inside the functions: this module is imported only once a store is
used.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import urllib.error
import urllib.request
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from interlock.errors import ArtifactError, ArtifactNotFoundError, InterlockError

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

__all__ = [
    "ARTIFACT_PATH",
    "Published",
    "Registry",
    "TAG_CREATED",
    "TAG_DIGEST",
    "TAG_VERSION",
    "mlflow_errors",
    "open_client",
    "quiet_mlflow",
]

TAG_VERSION = "interlock.version"
TAG_DIGEST = "interlock.digest"
TAG_CREATED = "interlock.created_at"
#: Where inside a run's artifacts the interlock artifact directory is logged.
ARTIFACT_PATH = "interlock"
_PAGE = 1000
_OLDEST = datetime.min.replace(tzinfo=timezone.utc)
#: MLflow logs its database migrations at INFO; a user of interlock need not see them.
_QUIET_LOGGERS = (
    "mlflow.store.db.utils",
    "mlflow.store.model_registry.abstract_store",
    "alembic.runtime.migration",
    "alembic",
)
#: MLflow prints run links and progress bars on standard output: not interlock's output.
_QUIET_ENV = {
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
}
_quiet_lock = threading.Lock()
_quiet_state: dict[str, Any] = {"depth": 0, "saved": {}}


@contextlib.contextmanager
def quiet_mlflow() -> Iterator[None]:
    """MLflow without its standard-output chatter, restoring the user's settings after (the
    outermost of nested or concurrent uses restores them)."""
    with _quiet_lock:
        if _quiet_state["depth"] == 0:
            _quiet_state["saved"] = {key: os.environ.get(key) for key in _QUIET_ENV}
            os.environ.update(_QUIET_ENV)
        _quiet_state["depth"] += 1
    try:
        yield
    finally:
        with _quiet_lock:
            _quiet_state["depth"] -= 1
            if _quiet_state["depth"] == 0:
                for key, value in _quiet_state["saved"].items():
                    if value is None:
                        os.environ.pop(key, None)
                    else:
                        os.environ[key] = value


@dataclass(frozen=True)
class Published:
    """One published interlock version as the registry records it."""

    name: str
    version: str
    digest: str
    created_at: datetime
    #: MLflow's own model version number.
    number: int
    #: Where the artifact directory lives (the model version's ``source``).
    source: str
    run_id: str


@contextlib.contextmanager
def mlflow_errors(doing: str, *, where: str) -> Iterator[None]:
    """Turn MLflow's exceptions into interlock errors naming ``where`` (a URI)."""
    from mlflow.exceptions import MlflowException

    try:
        with quiet_mlflow():
            yield
    except InterlockError:
        raise
    except MlflowException as exc:
        first = str(exc.message).strip().splitlines()[0] if str(exc.message).strip() else ""
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            raise ArtifactNotFoundError(
                f"{doing} at {where!r}: {first}", hint="check the name and version"
            ) from None
        raise ArtifactError(
            f"{doing} at {where!r} failed: {first[:300]}",
            hint="check the tracking URI and that the MLflow server or database is usable",
        ) from None


def probe_server(tracking_uri: str, *, timeout_s: float = 5.0) -> None:
    """Fail fast, in one line, when an MLflow tracking server does not answer (MLflow's own
    client would retry for minutes)."""
    url = f"{tracking_uri.rstrip('/')}/health"
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as answer:  # noqa: S310 - http(s) only
            answer.read(64)
    except urllib.error.HTTPError as exc:
        raise ArtifactError(
            f"the MLflow tracking server at {tracking_uri!r} answered {exc.code} to /health",
            hint="check the tracking URI: it is the address 'mlflow server' listens on",
        ) from None
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ArtifactError(
            f"cannot reach the MLflow tracking server at {tracking_uri!r}: {reason}",
            hint="start the server ('mlflow server --host 127.0.0.1 --port 5000') or fix the "
            "tracking URI",
        ) from None


def open_client(tracking_uri: str) -> MlflowClient:
    """An MLflow client whose tracking and registry URI are ``tracking_uri``."""
    for logger in _QUIET_LOGGERS:
        logging.getLogger(logger).setLevel(logging.WARNING)
    # MLflow's SQL stores use a SQLAlchemy loader that SQLAlchemy deprecates, and say so on
    # every store they open; a user of interlock can do nothing about it, and with warnings
    # turned into errors it would stop the store. Exactly that message is ignored.
    warnings.filterwarnings(
        "ignore",
        message="The ``noload`` loader strategy is deprecated",
        category=DeprecationWarning,
    )
    if tracking_uri.startswith(("http://", "https://")):
        probe_server(tracking_uri)
    from mlflow.tracking import MlflowClient

    with mlflow_errors("opening MLflow", where=tracking_uri):
        return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def _created_at(text: str) -> datetime:
    try:
        stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return _OLDEST
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=timezone.utc)


def _published(version: Any) -> Published | None:
    tags = version.tags or {}
    if version.status != "READY" or TAG_VERSION not in tags or TAG_DIGEST not in tags:
        return None
    return Published(
        name=version.name,
        version=tags[TAG_VERSION],
        digest=tags[TAG_DIGEST],
        created_at=_created_at(tags.get(TAG_CREATED, "")),
        number=int(version.version),
        source=str(version.source),
        run_id=str(version.run_id or ""),
    )


def winners(found: list[Published]) -> list[Published]:
    """Per (name, version), the registration with the lowest MLflow number; oldest first by
    manifest ``created_at`` (then MLflow number)."""
    first: dict[tuple[str, str], Published] = {}
    for item in found:
        key = (item.name, item.version)
        if key not in first or item.number < first[key].number:
            first[key] = item
    return sorted(first.values(), key=lambda item: (item.created_at, item.number))


class Registry:
    """The searches and registrations of one store, over one MLflow client."""

    def __init__(self, tracking_uri: str) -> None:
        self.tracking_uri = tracking_uri
        self._client: MlflowClient | None = None
        self._lock = threading.Lock()

    @property
    def client(self) -> MlflowClient:
        with self._lock:
            if self._client is None:
                self._client = open_client(self.tracking_uri)
            return self._client

    def search(self, name: str | None = None, **tags: str) -> list[Published]:
        """Every published registration (of ``name``), optionally with equal tag values.

        ``name`` and the tag values are checked by the caller (no quotes can occur)."""
        clauses = [f"tags.`{TAG_DIGEST}` LIKE 'sha256:%'"]
        if name is not None:
            clauses.insert(0, f"name = '{name}'")
        clauses += [f"tags.`{key}` = '{value}'" for key, value in tags.items()]
        found: list[Published] = []
        token = None
        with mlflow_errors("searching the model registry", where=self.tracking_uri):
            while True:
                page = self.client.search_model_versions(
                    " and ".join(clauses), max_results=_PAGE, page_token=token
                )
                found += [item for item in map(_published, page) if item is not None]
                token = page.token
                if not token:
                    return found

    def published(self, name: str | None = None) -> list[Published]:
        """The winning registration of every version (of ``name``), oldest first."""
        return winners(self.search(name))

    def find(self, name: str, version: str) -> Published | None:
        """The winning registration of ``name:version``, or ``None``."""
        found = winners(self.search(name, **{TAG_VERSION: version}))
        return found[0] if found else None

    def register(
        self, name: str, version: str, *, digest: str, created_at: str, source: str, run_id: str
    ) -> int:
        """Register a model version of ``name`` for ``version``; return MLflow's number."""
        from mlflow.exceptions import MlflowException

        where = self.tracking_uri
        with mlflow_errors(f"registering {name}:{version}", where=where):
            try:
                self.client.create_registered_model(name)
            except MlflowException as exc:
                if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                    raise
            tags = {TAG_VERSION: version, TAG_DIGEST: digest, TAG_CREATED: created_at}
            created = self.client.create_model_version(name, source, run_id=run_id, tags=tags)
        return int(created.version)

    def withdraw(self, name: str, number: int, run_id: str) -> None:
        """Delete a registration that lost a race, and retire its run."""
        with mlflow_errors(f"withdrawing version {number} of {name!r}", where=self.tracking_uri):
            self.client.delete_model_version(name, str(number))
        self.end_run(run_id, "FAILED")

    def end_run(self, run_id: str, status: str) -> None:
        """Mark a run finished or failed (best effort for a failed one)."""
        with contextlib.suppress(Exception) if status == "FAILED" else contextlib.nullcontext():
            with mlflow_errors("ending the publishing run", where=self.tracking_uri):
                self.client.set_terminated(run_id, status)
