"""OpenLineage dataset names from fsspec URIs (lineage.md LIN-020, after OpenLineage's Naming.md).

OpenLineage names a dataset by a ``namespace`` (``scheme://authority``, the data source) and a
``name`` (the path within it), so that two producers that touch the same files name them alike
and their lineage joins up.
"""

from __future__ import annotations

import os
from pathlib import PurePosixPath
from urllib.parse import unquote, urlsplit

__all__ = ["dataset_name"]

#: Object stores whose names are keys inside a bucket or container, written without a leading
#: slash; a few fsspec protocol aliases map to the scheme OpenLineage uses.
_OBJECT_STORES = {
    "s3": "s3", "s3a": "s3", "s3n": "s3", "gs": "gs", "gcs": "gs",
    "abfs": "abfs", "abfss": "abfss", "az": "az", "adl": "adl", "wasb": "wasb", "wasbs": "wasbs",
    "oss": "oss", "r2": "r2",
}
_LOCAL = {"", "file", "local"}


def dataset_name(uri: str | os.PathLike[str]) -> tuple[str, str]:
    """The OpenLineage ``(namespace, name)`` of the dataset (or artifact) at ``uri``.

    A local path or ``file://`` URI is ``("file", "/absolute/path")``; ``s3://bucket/key`` is
    ``("s3://bucket", "key")`` (``s3a``/``s3n`` too), ``gs://``/``gcs://`` is ``gs://bucket``,
    Azure's ``abfss://container@account.dfs.core.windows.net/path`` keeps its authority; any
    other scheme is ``("scheme://authority", "/path")``. In a chained fsspec URL
    (``simplecache::s3://...``) the last URL, where the bytes are, names the dataset. Query
    strings, fragments and a trailing slash are dropped.
    """
    text = os.fspath(uri).rsplit("::", 1)[-1]
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme in _LOCAL or len(scheme) == 1:  # a one-letter scheme is a Windows drive
        return _local(text, parts.netloc, parts.path, scheme)
    path = unquote(parts.path).rstrip("/")
    if scheme in _OBJECT_STORES:
        return f"{_OBJECT_STORES[scheme]}://{parts.netloc}", path.lstrip("/")
    if parts.netloc:
        return f"{scheme}://{parts.netloc}", path or "/"
    return scheme, path or "/"


def _local(text: str, netloc: str, path: str, scheme: str) -> tuple[str, str]:
    if scheme in ("file", "local"):
        if netloc and netloc != "localhost":
            return f"file://{netloc}", unquote(path).rstrip("/") or "/"
        local = unquote(path)
    else:
        local = text
    absolute = os.path.abspath(os.path.expanduser(local))
    posix = PurePosixPath(absolute.replace(os.sep, "/")) if os.sep != "/" else absolute
    return "file", str(posix).rstrip("/") or "/"
