"""``interlock dataset info|head``: inspect a dataset of any format on any fsspec URL."""

from __future__ import annotations

import json
from typing import Any

import click

import interlock
from interlock.cli._options import emit_json

__all__ = ["dataset_group"]


@click.group("dataset")
def dataset_group() -> None:
    """Inspect datasets (any format and fsspec URL)."""


@dataset_group.command("info")
@click.argument("uri")
@click.option("--format", "format_name", default=None, help="Dataset format (default: inferred).")
@click.option("--json", "as_json", is_flag=True)
def dataset_info(uri: str, format_name: str | None, as_json: bool) -> None:
    """Show a dataset's format, schema, size and fingerprint."""
    dataset = interlock.open_dataset(uri, format=format_name)
    schema: list[dict[str, Any]] = [
        {"name": f.name, "type": str(f.type), "nullable": f.nullable} for f in dataset.schema
    ]
    info: dict[str, Any] = {
        "uri": uri,
        "format": dataset.format_name,
        "rows": dataset.count_rows(),
        "files": len(dataset.files()),
        "fingerprint": dataset.fingerprint(),
        "schema": schema,
    }
    if as_json:
        emit_json(info)
        return
    click.echo(f"uri:         {uri}\nformat:      {info['format']}\nrows:        {info['rows']}")
    click.echo(f"files:       {info['files']}\nfingerprint: {info['fingerprint']}\nschema:")
    for field in schema:
        null = "" if field["nullable"] else " not null"
        click.echo(f"  {field['name']}: {field['type']}{null}")


@dataset_group.command("head")
@click.argument("uri")
@click.option("-n", "--rows", default=10, show_default=True, type=click.IntRange(min=0))
@click.option("--columns", default=None, help="Comma-separated columns to show.")
@click.option("--format", "format_name", default=None)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per row.")
def dataset_head(uri: str, rows: int, columns: str | None, format_name: str | None, as_json: bool) -> None:
    """Print the first rows of a dataset."""
    dataset = interlock.open_dataset(uri, format=format_name)
    selected = [c.strip() for c in columns.split(",")] if columns else None
    table = _head(dataset, rows, selected)
    if as_json:
        for row in table.to_pylist():
            click.echo(json.dumps(row, default=str))
    else:
        click.echo(table.to_pandas().to_string() if _has_pandas() else str(table))


def _head(dataset: interlock.Dataset, rows: int, columns: list[str] | None) -> Any:
    import pyarrow as pa

    batches = []
    remaining = rows
    reader = dataset.to_reader(columns=columns, batch_size=max(rows, 1))
    for batch in reader:
        if remaining <= 0:
            break
        batches.append(batch.slice(0, remaining))
        remaining -= min(batch.num_rows, remaining)
    return pa.Table.from_batches(batches, schema=reader.schema)


def _has_pandas() -> bool:
    try:
        import pandas  # type: ignore[import-untyped]  # noqa: F401
    except ImportError:
        return False
    return True
