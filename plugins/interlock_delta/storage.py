"""Where deltalake finds a table: the table URI and storage options for an interlock URI.

deltalake reaches storage through its own object store (delta-rs), not through fsspec: a local
path or ``file://`` URL is handed over as the local path fsspec resolved, an object-store URL
(``s3://``, ``gs://``, ``az://``, ...) as given, with the fsspec filesystem's
``storage_options`` (dataset.md DS-126). Anything else is refused before it is touched.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from interlock.errors import DatasetError

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

__all__ = ["REACHABLE_SCHEMES", "table_location"]

#: URL schemes that deltalake's object store reaches, besides local paths.
REACHABLE_SCHEMES = ("file", "s3", "s3a", "gs", "az", "abfs", "abfss", "adl", "azure")


def table_location(
    path: str, filesystem: AbstractFileSystem, uri: str
) -> tuple[str, dict[str, str] | None]:
    """The URI deltalake opens the table at, and its storage options."""
    from fsspec.implementations.local import LocalFileSystem

    if isinstance(filesystem, LocalFileSystem):
        return path, None
    scheme = uri.split("://", 1)[0].lower() if "://" in uri else ""
    if "::" in uri or scheme not in REACHABLE_SCHEMES:
        raise DatasetError(
            f"the delta format cannot reach {uri!r}: deltalake reads and writes local paths and "
            f"the URL schemes {', '.join(s + '://' for s in REACHABLE_SCHEMES)}, not other "
            "fsspec protocols or chained URLs",
            hint="use a local path, file://, or an object-store URL such as s3://bucket/table",
        )
    options = {
        str(key): str(value)
        for key, value in filesystem.storage_options.items()
        if isinstance(value, str | int | float | bool)
    }
    return uri, options or None
