"""Saving, loading and finding model artifacts: :func:`save_artifact`, :func:`load_artifact`,
:func:`open_store` (spec: artifact.md).

The store component only moves bytes; everything that makes an artifact trustworthy (the
manifest, its digest, verification, path rules) happens here, the same for every store.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from interlock.staging import owned_temp_dir
from interlock.artifacts._interfaces import Artifact, ArtifactStore
from interlock.errors import (
    ArtifactError,
    ArtifactExistsError,
    ArtifactNotFoundError,
    PluginError,
)
from interlock.artifacts._manifest import (
    MANIFEST_FILE,
    MODEL_FILE,
    LineageEntry,
    Producer,
)
from interlock.plugins import get_registry, plugin_boundary

if TYPE_CHECKING:
    import onnx

    from interlock.datasets import Dataset
    from interlock.artifacts._save import PreparedModel
    from interlock.artifacts._exported import ExportedModel
    from interlock.artifacts._text_info import TextInfo
    from interlock.tensors import ColumnMapping, Signature

__all__ = [
    "default_store_root",
    "load_artifact",
    "open_store",
    "parse_ref",
    "resolve_ref",
    "save_artifact",
]

#: Where to save or load: a store object, a root URI or path, or None for the default store.
StoreArg = ArtifactStore | str | os.PathLike[str] | None

_REF = re.compile(
    r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]{0,127})"
    r"(?::(?P<version>[A-Za-z0-9][A-Za-z0-9._-]{0,127})|@(?P<digest>sha256:[0-9a-f]{64}))?$"
)
_SHOWN = 20

#: A save stages its files in ``<system temp folder>/interlock-save-<32 hex digits>``.
SAVE_PREFIX = "interlock-save-"


# -- stores ----------------------------------------------------------------------------------


def default_store_root() -> str:
    """The store used when none is given: ``$INTERLOCK_STORE`` (a path or any fsspec URL),
    else ``$XDG_DATA_HOME/interlock/artifacts``, else ``~/.local/share/interlock/artifacts``."""
    configured = os.environ.get("INTERLOCK_STORE")
    if configured:
        return configured
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".local" / "share"
    return str(base / "interlock" / "artifacts")


def _protocol_of(root: str) -> str:
    # The outermost protocol of a chained URL ("simplecache::s3://...") is the one the user
    # talks to; a plain path is local.
    first = root.split("::", 1)[0]
    if "://" in first:
        return first.split("://", 1)[0]
    return "file"


def _store_class_for(protocol: str, root: str) -> type[ArtifactStore]:
    registry = get_registry()
    claims = registry.claims("artifact_store")
    specific = [c for c in claims if protocol in c.component.protocols]
    pool = specific or [c for c in claims if "*" in c.component.protocols]
    if not pool:
        installed = ", ".join(registry.names("artifact_store")) or "none"
        raise PluginError(
            f"no artifact store serves {protocol!r} URLs such as {root!r} "
            f"(installed stores: {installed})",
            hint="install a store plugin for this protocol, or name one with store=",
        )
    candidates: list[type[ArtifactStore]] = [
        registry.get("artifact_store", name) for name in sorted({c.name for c in pool})
    ]
    top = max(c.priority for c in candidates)
    best = [c for c in candidates if c.priority == top]
    if len(best) > 1:
        names = ", ".join(repr(c.name) for c in best)
        raise PluginError(
            f"artifact stores {names} all serve {protocol!r} URLs at the same priority",
            hint="choose one with open_store(root, store=NAME)",
        )
    return best[0]


def open_store(
    root: str | os.PathLike[str] | None = None,
    storage_options: Mapping[str, Any] | None = None,
    store: str | None = None,
) -> ArtifactStore:
    """Open the artifact store rooted at ``root`` (a local path or any fsspec URL).

    ``root=None`` opens the default store (see :func:`default_store_root`). The store
    component is the one named ``store``, else the installed store that serves the root's
    protocol (a store claiming it by name beats one that serves ``"*"``; then priority decides).
    ``storage_options`` go to fsspec (credentials, endpoints, ...).
    """
    location = os.fspath(root) if root is not None else default_store_root()
    if "://" not in location and "::" not in location:
        location = os.path.expanduser(location)
    registry = get_registry()
    cls: type[ArtifactStore] = (
        registry.get("artifact_store", store)
        if store is not None
        else _store_class_for(_protocol_of(location), location)
    )
    with plugin_boundary(cls, f"opening the store at {location!r}"):
        return cls(location, storage_options)


def _as_store(store: StoreArg, storage_options: Mapping[str, Any] | None) -> ArtifactStore:
    if isinstance(store, ArtifactStore):
        if storage_options:
            raise ArtifactError(
                "storage_options were given with a store object",
                hint="pass storage_options to open_store() when you open the store",
            )
        return store
    return open_store(store, storage_options)


# -- references ------------------------------------------------------------------------------


def parse_ref(ref: str) -> tuple[str, str | None, str | None] | None:
    """Split ``name``, ``name:version`` or ``name@sha256:<hex>`` into (name, version, digest);
    ``None`` if ``ref`` has none of these forms."""
    match = _REF.match(ref)
    if match is None:
        return None
    return match["name"], match["version"], match["digest"]


def _listing(items: list[str]) -> str:
    shown = ", ".join(items[:_SHOWN])
    if len(items) > _SHOWN:
        shown += f", ... ({len(items)} in all)"
    return shown or "none"


def resolve_ref(store: ArtifactStore, ref: str) -> tuple[str, str]:
    """The ``(name, version)`` that ``ref`` points at in ``store``; a bare name means its
    newest version. Raises :class:`interlock.ArtifactNotFoundError` listing what exists."""
    parsed = parse_ref(ref)
    if parsed is None:
        raise ArtifactError(
            f"{ref!r} is not an artifact reference",
            hint="use NAME, NAME:VERSION or NAME@sha256:<64 hex digits>",
        )
    name, version, digest = parsed
    with plugin_boundary(store, f"listing the versions of {name!r}"):
        versions = store.versions(name)
    if not versions:
        with plugin_boundary(store, f"asking why {name!r} is not listed"):
            reason = store.unavailable_reason(name)
        if reason:
            raise ArtifactNotFoundError(
                f"{name!r} in the store at {store.root!r} cannot be served: {reason}",
                hint="serve it with the tool it was made for, or convert it to ONNX",
            )
        with plugin_boundary(store, "listing artifacts"):
            names = store.names()
        hint = "check the name and the store (INTERLOCK_STORE sets the default store)"
        if os.path.isdir(name):
            hint = f"to load the directory {name!r} here, write ./{name}"
        raise ArtifactNotFoundError(
            f"no artifact named {name!r} in the store at {store.root!r} "
            f"(artifacts: {_listing(names)})",
            hint=hint,
        )
    if version is not None:
        if version not in versions:
            raise ArtifactNotFoundError(
                f"artifact {name!r} has no version {version!r} in the store at "
                f"{store.root!r} (versions: {_listing(versions)})",
                hint=f"load one of the listed versions, or just {name!r} for the newest",
            )
        return name, version
    if digest is not None:
        with plugin_boundary(store, f"looking up {name}@{digest}"):
            found = store.find_digest(name, digest)
        if found is None:
            raise ArtifactNotFoundError(
                f"no version of {name!r} in the store at {store.root!r} has digest {digest} "
                f"(versions: {_listing(versions)})",
                hint="a digest names exactly one artifact; check that it was published here",
            )
        return name, found
    return name, versions[-1]


def load_artifact(
    ref: str | os.PathLike[str],
    store: StoreArg = None,
    *,
    verify: bool = True,
    storage_options: Mapping[str, Any] | None = None,
) -> Artifact:
    """Load a model artifact and (by default) verify every byte of it.

    ``ref`` is ``NAME``, ``NAME:VERSION`` or ``NAME@sha256:<hex>`` inside ``store`` (a root
    URI, an :class:`interlock.ArtifactStore`, or ``None`` for the default store), or the URI
    of an artifact directory (a path object, a path containing ``/``, or any fsspec URL).
    ``verify=False`` skips hashing and the file checks; the manifest is still checked.

    Raises :class:`interlock.ArtifactNotFoundError` (listing what exists) or
    :class:`interlock.ArtifactIntegrityError` (naming the file).
    """
    from interlock.artifacts._verify import DirectoryFiles, StoreFiles, open_artifact

    text = os.fspath(ref)
    parsed = None if isinstance(ref, os.PathLike) else parse_ref(text)
    if parsed is None:
        if store is not None:
            raise ArtifactError(
                f"{text!r} is not an artifact reference, but a store was given",
                hint="with store=, use NAME, NAME:VERSION or NAME@sha256:<hex>; "
                "to load a directory, pass its URI without store=",
            )
        if "@sha256:" in text and "/" not in text:
            raise ArtifactError(
                f"{text!r} is not a valid content address",
                hint="a content address is NAME@sha256: followed by 64 lower-case hex digits",
            )
        fs, path = _url_to_fs(text, storage_options)
        return open_artifact(DirectoryFiles(fs, path, text.rstrip("/")), verify=verify)
    the_store = _as_store(store, storage_options)
    name, version = resolve_ref(the_store, text)
    return open_artifact(
        StoreFiles(the_store, name, version), verify=verify, expected_digest=parsed[2]
    )


def _url_to_fs(uri: str, storage_options: Mapping[str, Any] | None) -> tuple[Any, str]:
    import fsspec.core

    try:
        fs, path = fsspec.core.url_to_fs(uri, **dict(storage_options or {}))
    except ImportError as exc:
        raise ArtifactError(
            f"cannot open {uri!r}: {exc}",
            hint="install the fsspec implementation for this protocol (for example s3fs)",
        ) from None
    except ValueError as exc:
        raise ArtifactError(
            f"cannot open {uri!r}: {exc}", hint="check the URL's protocol and options"
        ) from None
    return fs, str(path)


# -- saving ----------------------------------------------------------------------------------


def save_artifact(
    model: onnx.ModelProto | ExportedModel | str | os.PathLike[str],
    store: StoreArg = None,
    *,
    name: str,
    version: str,
    signature: Signature | None = None,
    columns: ColumnMapping | None = None,
    lineage: Iterable[LineageEntry | Dataset | Mapping[str, Any]] | None = None,
    metadata: Mapping[str, Any] | None = None,
    extra_files: Mapping[str, bytes | os.PathLike[str]] | None = None,
    producer: Producer | None = None,
    storage_options: Mapping[str, Any] | None = None,
    external_data: bool | None = None,
    text: TextInfo | None = None,
) -> Artifact:
    """Save ``model`` as the immutable artifact ``name:version`` and return it, verified.

    ``model`` is an ``onnx.ModelProto``, an :class:`interlock.ExportedModel` (its signature,
    column mapping and metadata are the defaults) or the path of a ``.onnx`` file (external
    data beside it is read, never from outside its directory). ``store`` is a root URI, an
    :class:`interlock.ArtifactStore`, or ``None`` for the default store.

    ``signature`` defaults to the graph's; if given it must agree with the graph (it may only
    name or fix dimensions the graph leaves open). ``columns`` defaults to mapping each tensor
    to the column of the same name. ``lineage`` takes Datasets (their URI and fingerprint) or
    :class:`interlock.LineageEntry` objects. ``extra_files`` adds files (path in the artifact
    -> bytes or local file). ``external_data``: ``True`` moves the weights to
    ``model.onnx.data``; ``None`` does so for models over 256 MiB or whose source had
    external data. ``text``: the ``text`` section of a language model (text.md; default: the
    ExportedModel's), naming files of ``extra_files`` or of the ExportedModel's ``files``.

    Raises :class:`interlock.ArtifactExistsError` if the version exists (versions are
    immutable) and :class:`interlock.ArtifactError` naming what is wrong with the input.
    """
    from interlock.artifacts._onnx_files import EXTERNAL_DATA_FILE
    from interlock.artifacts._save import (
        check_extra_paths,
        check_name,
        lineage_entry,
        prepare_model,
    )
    from interlock.artifacts._verify import StoreFiles, open_artifact

    check_name("name", name)
    check_name("version", version)
    the_store = _as_store(store, storage_options)
    _refuse_existing(the_store, name, version)
    prepared = prepare_model(model, signature=signature, columns=columns, metadata=metadata,
                             external_data=external_data, text=text)
    lineage_entries = [lineage_entry(item) for item in (lineage or [])]
    extras: dict[str, bytes | os.PathLike[str]] = dict(prepared.files)
    extras.update(extra_files or {})
    check_extra_paths(list(extras), reserved={MANIFEST_FILE, MODEL_FILE, EXTERNAL_DATA_FILE})
    _publish(
        the_store, name, version, prepared, extras, producer=producer, lineage=lineage_entries
    )
    return open_artifact(StoreFiles(the_store, name, version), verify=True)


def _refuse_existing(store: ArtifactStore, name: str, version: str) -> None:
    """Raise :class:`interlock.ArtifactExistsError` if ``name:version`` is in ``store``."""
    with plugin_boundary(store, f"checking whether {name}:{version} exists"):
        exists = store.exists(name, version)
    if exists:
        raise ArtifactExistsError(
            f"artifact {name}:{version} already exists in the store at {store.root!r}",
            hint="versions are immutable; save under a new version",
        )


def _publish(
    store: ArtifactStore,
    name: str,
    version: str,
    prepared: PreparedModel,
    extras: Mapping[str, bytes | os.PathLike[str]],
    *,
    producer: Producer | None,
    lineage: list[LineageEntry],
) -> None:
    """Stage and hash every file in a temporary directory, seal the manifest over them and
    publish ``name:version`` to ``store``, the manifest last."""
    from interlock import __version__
    from interlock.artifacts._save import build_manifest, stage_files

    # Owned, so that the next save removes what a killed one left here (ART-079).
    with owned_temp_dir(SAVE_PREFIX) as staging:
        entries, sources = stage_files(Path(staging), prepared, extras)
        manifest = build_manifest(
            name=name,
            version=version,
            onnx=prepared.info,
            files=entries,
            signature=prepared.signature,
            columns=prepared.columns,
            producer=producer or Producer(name="interlock", version=__version__),
            lineage=lineage,
            metadata=prepared.metadata,
            text=prepared.text,
        )
        sources[MANIFEST_FILE] = manifest.to_json_bytes()  # last: stores write it last
        with plugin_boundary(store, f"publishing {name}:{version}"):
            store.publish(name, version, sources)
