"""The checks every ``Dataset`` makes of its reader arguments and shard counts (DS-022..DS-024,
DS-030), with errors that name the URI and say how to fix the call; and the splitting helpers
that the datasets of the file-format bases share."""

from __future__ import annotations

import difflib
import itertools
from collections.abc import Iterable, Iterator
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from interlock.errors import DatasetError

__all__ = [
    "capped",
    "checked_batch_size",
    "checked_columns",
    "checked_filter",
    "checked_shard_count",
    "contiguous_groups",
    "filter_error",
]


def checked_columns(uri: str, schema: pa.Schema, columns: object) -> list[str] | None:
    """``columns`` as a list of names of ``schema``, each once; None stays None."""
    if columns is None:
        return None
    if not isinstance(columns, list | tuple) or not all(isinstance(c, str) for c in columns):
        raise DatasetError(
            f"columns for {uri!r} must be a list of column names, got {columns!r}",
            hint="pass e.g. columns=['a', 'b']",
        )
    names = schema.names
    seen: set[str] = set()
    for column in columns:
        if column not in names:
            close = difflib.get_close_matches(column, names, n=1)
            raise DatasetError(
                f"dataset {uri!r} has no column {column!r}; columns: {', '.join(names)}",
                hint=f"did you mean {close[0]!r}?" if close else "check the column names",
            )
        if column in seen:
            raise DatasetError(
                f"column {column!r} is requested twice from {uri!r}", hint="name each column once"
            )
        seen.add(column)
    return list(columns)


def checked_filter(uri: str, schema: pa.Schema, filter: object, *, bind: bool = True) -> Any:
    """``filter`` if it is an Expression (None stays None); with ``bind``, also checked to be
    a boolean expression over ``schema``'s columns."""
    if filter is None:
        return None
    if not isinstance(filter, pc.Expression):
        raise DatasetError(
            f"filter for {uri!r} must be a pyarrow.compute.Expression, got "
            f"{type(filter).__name__}",
            hint="build one with pyarrow.compute.field('x') > 0",
        )
    if bind:
        try:
            schema.empty_table().filter(filter)
        except (pa.ArrowException, TypeError, ValueError) as exc:
            raise filter_error(uri, schema, filter, exc) from exc
    return filter


def filter_error(uri: str, schema: pa.Schema, filter: object, exc: Exception) -> DatasetError:
    """The error for a filter that does not apply to ``schema``."""
    return DatasetError(
        f"cannot scan {uri!r} with filter {filter}: {exc}",
        hint="the filter must be a boolean expression over the dataset's columns: "
        + ", ".join(schema.names),
    )


def checked_batch_size(uri: str, batch_size: object) -> int | None:
    """``batch_size`` if it is a positive integer (None stays None)."""
    if batch_size is None:
        return None
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise DatasetError(
            f"batch_size for {uri!r} must be a positive integer, got {batch_size!r}",
            hint="pass e.g. batch_size=65536, or None for the format's default",
        )
    return batch_size


def checked_shard_count(uri: str, n: object) -> int:
    """``n`` if it is a positive integer (DS-030)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise DatasetError(
            f"shards(n) of {uri!r} needs a positive integer, got {n!r}",
            hint="pass the number of workers, e.g. shards(4)",
        )
    return n


def capped(batches: Iterable[pa.RecordBatch], cap: int | None) -> Iterator[pa.RecordBatch]:
    """``batches`` with every batch of more than ``cap`` rows cut into slices (DS-024)."""
    for batch in batches:
        if cap is not None and batch.num_rows > cap:
            for offset in range(0, batch.num_rows, cap):
                yield batch.slice(offset, cap)
        else:
            yield batch


def contiguous_groups(weights: list[int], n: int) -> list[range]:
    """Split ``range(len(weights))`` into at most ``n`` non-empty runs of similar weight."""
    count = len(weights)
    parts = min(n, count)
    cumulative = list(itertools.accumulate(max(weight, 0) for weight in weights))
    total = cumulative[-1] if cumulative and cumulative[-1] > 0 else 0
    if total == 0:
        cumulative = list(range(1, count + 1))
        total = count
    bounds = [0]
    for part in range(1, parts):
        target = total * part / parts
        end = bounds[-1] + 1
        # leave at least one unit for each remaining run
        while end < count - (parts - part) and cumulative[end - 1] < target:
            end += 1
        bounds.append(end)
    bounds.append(count)
    return [range(start, stop) for start, stop in itertools.pairwise(bounds)]
