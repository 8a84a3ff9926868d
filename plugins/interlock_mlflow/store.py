"""The ``mlflow`` artifact store: interlock artifacts as MLflow runs and registered model
versions.

Publishing ``NAME:VERSION`` logs the whole artifact directory (manifest, model, external data,
extra files) as the artifacts of one run of the store's experiment, under ``interlock/``, and
only then registers a model version of the registered model ``NAME`` pointing at it, tagged
with the interlock version, digest and creation time (:mod:`interlock_mlflow.registry`). A
version exists exactly when that registration does: a writer killed before it leaves an orphan
run, never a visible version. Names, versions and references resolve through the registry;
the bytes are read with fsspec from the run's artifact directory and verified by interlock's
core like any store's (MLflow's storage is not trusted).

Neither MLflow nor fsspec is imported until the store is used.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO
from urllib.parse import quote, unquote, urlparse

from interlock.artifacts import (
    MANIFEST_FILE,
    ArtifactStore,
    check_relative_path,
    list_local_dir,
    parse_manifest,
)
from interlock.plugins import FALLBACK_PRIORITY
from interlock.errors import (
    ArtifactError,
    ArtifactExistsError,
    ArtifactIntegrityError,
    ArtifactNotFoundError,
)

from interlock_mlflow.location import PROTOCOLS, StoreLocation, parse_root

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

    from interlock.artifacts import Artifact
    from interlock_mlflow.registry import Published, Registry

__all__ = ["MlflowArtifactStore"]

_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
#: Artifact locations MLflow may record that fsspec cannot read directly.
_UNREADABLE = ("mlflow-artifacts", "runs", "models", "dbfs")


def _check_segment(kind: str, value: str) -> None:
    if not _SEGMENT.match(value):
        raise ArtifactNotFoundError(
            f"{value!r} is not a valid artifact {kind}",
            hint="names and versions are 1-128 letters, digits, '.', '_' or '-'",
        )


def _check_path(path: str) -> None:
    try:
        check_relative_path(path)
    except ValueError as exc:
        raise ArtifactIntegrityError(
            f"artifact file path {path!r} is refused: {exc}",
            hint="file paths are relative, '/'-separated, without '.' or '..' segments",
        ) from None


def _local_path(uri: str) -> str | None:
    """The local path a location names (a plain path or ``file://``), else ``None``."""
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return os.path.abspath(unquote(parsed.path))
    if not parsed.scheme or (len(parsed.scheme) == 1 and os.name == "nt"):
        return os.path.abspath(uri)
    return None


def _normal(uri: str) -> str:
    local = _local_path(uri)
    return os.path.realpath(local) if local is not None else uri.rstrip("/")


class MlflowArtifactStore(ArtifactStore):
    """Artifacts published to an MLflow tracking server or database and its model registry.

    Root: ``mlflow+<tracking URI>[?artifact_root=URI][&experiment=NAME]`` (see
    :mod:`interlock_mlflow.location`). ``storage_options`` go to fsspec when the artifact
    root is remote (credentials, endpoints).
    """

    name = "mlflow"
    description = "Artifacts as MLflow runs and registered model versions (tracking + registry)"
    protocols = PROTOCOLS
    priority = FALLBACK_PRIORITY
    capabilities = frozenset(
        {
            "atomic-publish",
            "immutable-versions",
            "race-safe-publish",
            "digest-refs",
            "external-data",
            "nested-files",
        }
    )

    def __init__(self, root: str, storage_options: Mapping[str, Any] | None = None) -> None:
        super().__init__(root, storage_options)
        self.location: StoreLocation = parse_root(root)
        self._registry: Registry | None = None
        self._lock = threading.Lock()
        self._artifact_location: str | None = None
        # Where published versions live; versions are immutable, so what was found once holds.
        self._known: dict[tuple[str, str], Published] = {}

    @classmethod
    def populate(cls, directory: Path, artifacts: Sequence[Artifact]) -> str:
        """A store kept in the local ``directory`` (a SQLite database ``mlflow.db`` and the
        artifact root ``artifacts/``) holding ``artifacts`` as published; its root URI.

        With no artifacts, the root of a fresh, empty store (for tests and certification).
        """
        base = os.path.abspath(os.fspath(directory))
        os.makedirs(base, exist_ok=True)
        artifacts_dir = quote(os.path.join(base, "artifacts"), safe="/")
        root = f"mlflow+sqlite:///{os.path.join(base, 'mlflow.db')}?artifact_root={artifacts_dir}"
        store = cls(root, None)
        for artifact in artifacts:
            files: dict[str, bytes | os.PathLike[str]] = {
                entry.path: artifact.read_bytes(entry.path) for entry in artifact.manifest.files
            }
            files[MANIFEST_FILE] = artifact.manifest.to_json_bytes()
            store.publish(artifact.name, artifact.version, files)
        return root

    # -- plumbing -----------------------------------------------------------------------------

    @property
    def registry(self) -> Registry:
        with self._lock:
            if self._registry is None:
                from interlock_mlflow.registry import Registry

                self._registry = Registry(self.location.tracking_uri)
            return self._registry

    def _experiment(self, *, create: bool) -> tuple[str | None, str | None]:
        """The store experiment's id and artifact location (created when ``create``)."""
        from mlflow.exceptions import MlflowException

        from interlock_mlflow.registry import mlflow_errors

        client, wanted = self.registry.client, self.location.artifact_root
        name = self.location.experiment
        with mlflow_errors(f"opening the experiment {name!r}", where=self.root):
            experiment = client.get_experiment_by_name(name)
            if experiment is None and create:
                location = wanted or self.location.default_artifact_root()
                if location is None:
                    raise ArtifactError(
                        f"the store at {self.root!r} needs an artifact root to create the "
                        f"experiment {name!r}",
                        hint="add ?artifact_root=URI to the root: a location MLflow writes to "
                        "and fsspec reads (a path, s3://..., gs://...)",
                    )
                local = _local_path(location)
                try:
                    client.create_experiment(name, artifact_location=local or location)
                except MlflowException as exc:
                    if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                        raise
                experiment = client.get_experiment_by_name(name)
        if experiment is None:
            return None, wanted or self.location.default_artifact_root()
        actual = str(experiment.artifact_location)
        if wanted is not None and _normal(actual) != _normal(wanted):
            raise ArtifactError(
                f"the experiment {name!r} of {self.location.tracking_uri!r} keeps its "
                f"artifacts at {actual!r}, not at the artifact_root {wanted!r}",
                hint="give the experiment's own location as artifact_root, or another "
                "experiment with &experiment=NAME",
            )
        if urlparse(actual).scheme in _UNREADABLE:
            raise ArtifactError(
                f"the experiment {name!r} keeps its artifacts at {actual!r}, which fsspec "
                "cannot read directly",
                hint="use another experiment (&experiment=NAME) with an artifact_root that "
                "is a path or an object-store URL",
            )
        return str(experiment.experiment_id), actual

    def _trusted_root(self) -> str | None:
        with self._lock:
            cached = self._artifact_location
        if cached is None:
            _, cached = self._experiment(create=False)
            with self._lock:
                self._artifact_location = cached
        return cached

    def _no_database(self) -> bool:
        """Whether the root names a SQLite file that does not exist (yet): then nothing is
        published, and looking must not create an empty database there."""
        database = self.location.sqlite_file()
        return database is not None and not os.path.exists(database)

    def _find(self, name: str, version: str) -> Published:
        _check_segment("name", name)
        _check_segment("version", version)
        with self._lock:
            known = self._known.get((name, version))
        if known is None:
            known = None if self._no_database() else self.registry.find(name, version)
            if known is None:
                raise ArtifactNotFoundError(
                    f"no artifact {name}:{version} in the store at {self.root!r}",
                    hint="list the versions with store.versions(name)",
                )
            self._remember([known])
        return known

    def _remember(self, found: list[Published]) -> None:
        with self._lock:
            for item in found:
                self._known[(item.name, item.version)] = item

    def _directory(self, name: str, version: str) -> tuple[AbstractFileSystem, str, str]:
        """The filesystem, path and URI of a published version's directory, refusing a
        location outside the store's artifact root."""
        import fsspec.core

        source = self._find(name, version).source
        trusted = self._trusted_root()
        if trusted is None or not (_normal(source) + "/").startswith(_normal(trusted) + "/"):
            raise ArtifactIntegrityError(
                f"the registry records the files of {name}:{version} at {source!r}, outside "
                f"the store's artifact root {trusted!r}",
                hint="the registry entry was changed outside interlock; publish the version "
                "again under a new version",
            )
        local = _local_path(source)
        if local is not None:
            from fsspec.implementations.local import LocalFileSystem

            return LocalFileSystem(), os.path.realpath(local), os.path.realpath(local)
        fs, path = fsspec.core.url_to_fs(source, **self.storage_options)
        return fs, str(path).rstrip("/"), source.rstrip("/")

    # -- the primitives -----------------------------------------------------------------------

    def publish(
        self, name: str, version: str, files: Mapping[str, bytes | os.PathLike[str]]
    ) -> str:
        """Log every file as one run's artifacts, then register the version; exactly one of
        several concurrent publishers of a version wins, the others get ArtifactExistsError."""
        _check_segment("name", name)
        _check_segment("version", version)
        for path in files:
            _check_path(path)
        if MANIFEST_FILE not in files:
            raise ArtifactIntegrityError(f"publishing {name}:{version} without {MANIFEST_FILE}")
        registry = self.registry
        database = self.location.sqlite_file()
        if database is not None and not os.path.exists(database):
            # a new store: MLflow creates the database file, not its directory
            os.makedirs(os.path.dirname(database), exist_ok=True)
        elif registry.find(name, version) is not None:
            raise self._exists_error(name, version)
        content = files[MANIFEST_FILE]
        data = bytes(content) if isinstance(content, bytes | bytearray | memoryview) else (
            Path(content).read_bytes()
        )
        manifest = parse_manifest(data, where=f"{self.root} {name}:{version}", check_digest=False)
        experiment_id, _ = self._experiment(create=True)
        assert experiment_id is not None  # created above
        with tempfile.TemporaryDirectory(prefix="interlock-mlflow-") as staging:
            _stage(Path(staging), files)
            run_id, artifact_uri = self._log_run(experiment_id, name, version, staging)
        number = registry.register(
            name,
            version,
            digest=manifest.digest,
            created_at=manifest.created_at.isoformat(),
            source=f"{artifact_uri.rstrip('/')}/interlock",
            run_id=run_id,
        )
        winner = registry.find(name, version)
        if winner is None or winner.number != number:
            registry.withdraw(name, number, run_id)
            raise self._exists_error(name, version)
        registry.end_run(run_id, "FINISHED")
        self._remember([winner])
        return self.uri_of(name, version)

    def _log_run(
        self, experiment_id: str, name: str, version: str, staging: str
    ) -> tuple[str, str]:
        from interlock_mlflow.registry import ARTIFACT_PATH, TAG_VERSION, mlflow_errors

        client = self.registry.client
        with mlflow_errors(f"logging {name}:{version}", where=self.root):
            run = client.create_run(
                experiment_id,
                run_name=f"interlock {name}:{version}",
                tags={"interlock.name": name, TAG_VERSION: version},
            )
        run_id = run.info.run_id
        try:
            with mlflow_errors(f"logging the files of {name}:{version}", where=self.root):
                client.log_artifacts(run_id, staging, ARTIFACT_PATH)
        except BaseException:
            self.registry.end_run(run_id, "FAILED")
            raise
        return run_id, str(run.info.artifact_uri)

    def _exists_error(self, name: str, version: str) -> ArtifactExistsError:
        return ArtifactExistsError(
            f"artifact {name}:{version} already exists in the store at {self.root!r}",
            hint="versions are immutable; publish under a new version",
        )

    def names(self) -> list[str]:
        """Registered models with at least one published interlock version, sorted."""
        if self._no_database():
            return []
        found = self.registry.published()
        self._remember(found)
        return sorted({item.name for item in found})

    def versions(self, name: str) -> list[str]:
        """Published versions of ``name``, oldest first by manifest ``created_at``."""
        if not _SEGMENT.match(name) or self._no_database():
            return []
        found = self.registry.published(name)
        self._remember(found)
        return [item.version for item in found]

    def exists(self, name: str, version: str) -> bool:
        """Whether ``name:version`` is registered."""
        if not (_SEGMENT.match(name) and _SEGMENT.match(version)):
            return False
        try:
            self._find(name, version)
        except ArtifactNotFoundError:
            return False
        return True

    def find_digest(self, name: str, digest: str) -> str | None:
        """The published version of ``name`` whose registered digest is ``digest``."""
        if not _SEGMENT.match(name) or self._no_database():
            return None
        found = self.registry.published(name)
        self._remember(found)
        return next((item.version for item in found if item.digest == digest), None)

    def list_files(self, name: str, version: str) -> list[str]:
        """Every file of the version's directory, relative and sorted; refuses links."""
        fs, path, uri = self._directory(name, version)
        if _local_path(uri) is not None:
            return list_local_dir(Path(path), uri)
        if not fs.isdir(path):
            raise ArtifactNotFoundError(f"no artifact directory at {uri!r}")
        prefix, found = path + "/", []
        for full, info in fs.find(path, withdirs=True, detail=True).items():
            relative = full[len(prefix) :] if full.startswith(prefix) else None
            if relative is None:
                continue
            if info.get("islink") or info.get("type") not in ("file", "directory"):
                raise ArtifactIntegrityError(f"{uri}/{relative} is not a regular file")
            if info["type"] == "file":
                found.append(relative)
        return sorted(found)

    def read(self, name: str, version: str, path: str) -> bytes:
        """Raw bytes of one file (verified by the caller)."""
        with self.open_file(name, version, path) as stream:
            return stream.read()

    def open_file(self, name: str, version: str, path: str) -> BinaryIO:
        """A stream over one file of the version's directory."""
        _check_path(path)
        fs, directory, uri = self._directory(name, version)
        full = f"{directory}/{path}"
        if _local_path(uri) is not None and not os.path.realpath(full).startswith(directory + "/"):
            raise ArtifactIntegrityError(
                f"{uri}/{path} leads outside the artifact directory (a symbolic link)",
                hint="artifacts must not hold links; publish the version again",
            )
        try:
            stream: BinaryIO = fs.open(full, "rb")
        except (FileNotFoundError, IsADirectoryError):
            raise ArtifactNotFoundError(f"{uri} has no file {path!r}") from None
        return stream

    def uri_of(self, name: str, version: str) -> str:
        """The run's artifact directory holding ``name:version`` (a local path when local)."""
        return self._directory(name, version)[2]

    def local_path(self, name: str, version: str) -> Path | None:
        """The version's directory when the artifact root is on local disk."""
        _, path, uri = self._directory(name, version)
        return Path(path) if _local_path(uri) is not None else None


def _stage(staging: Path, files: Mapping[str, bytes | os.PathLike[str]]) -> None:
    """Lay the files out as the artifact directory (hard links where possible)."""
    for path, content in files.items():
        target = staging.joinpath(*path.split("/"))
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes | bytearray | memoryview):
            target.write_bytes(content)
            continue
        try:
            os.link(content, target)
        except OSError:
            if not os.path.isfile(content):
                raise
            shutil.copyfile(content, target)

