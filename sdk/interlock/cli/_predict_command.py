"""``interlock predict``: stream a dataset through a model artifact into a new dataset."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from types import FrameType
from typing import Any

import click

import interlock
from interlock.cli._options import emit_json, parse_runtime_options, runtime_option, store_option

__all__ = ["SignalInterrupt", "predict_command"]


class SignalInterrupt(KeyboardInterrupt):
    """SIGTERM or SIGHUP, taken the way Ctrl-C is: the job stops and cleans up."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextlib.contextmanager
def signals_as_interrupt() -> Iterator[None]:
    """While the block runs, SIGTERM and SIGHUP (what ``kill``, ``timeout``, systemd and
    Kubernetes send) interrupt it as Ctrl-C does, so that nothing half-written is left."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise SignalInterrupt(signum)

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _parse_casts(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> dict[str, str]:
    """``COLUMN=TYPE`` pairs; the column and the type are checked by ``predict_dataset``,
    against the dataset, before any work."""
    casts: dict[str, str] = {}
    for item in values:
        column, sep, name = item.rpartition("=")
        if not sep or not column or not name:
            raise click.BadParameter(f"{item!r} is not COLUMN=TYPE (for example x=float32)",
                                     param=param)
        if column in casts:
            raise click.BadParameter(f"column {column!r} is cast twice", param=param)
        casts[column] = name
    return casts


@click.command("predict")
@click.argument("artifact")
@click.argument("dataset")
@click.argument("output")
@store_option
@click.option("--runtime", default="onnxruntime", show_default=True)
@click.option("--device", default="cpu", show_default=True)
@runtime_option
@click.option("--executor", default="local", show_default=True)
@click.option(
    "--executor-option", "executor_options", multiple=True, metavar="KEY=VALUE",
    callback=parse_runtime_options,
    help="An option of the executor (repeatable), e.g. address=tcp://host:8786 for dask; "
    "the executor names the options it accepts.",
)
@click.option("--resume", is_flag=True,
              help="Skip the shards an interrupted run of the same job completed.")
@click.option("--row-index", default=None, metavar="NAME",
              help="Write each row's number in the dataset as an int64 column NAME, first.")
@click.option("--batch-size", default=65536, show_default=True, type=click.IntRange(min=1))
@click.option("--keep", default=None, help="Comma-separated input columns to copy to the output.")
@click.option("--mode", type=click.Choice(["error", "overwrite", "append"]), default="error", show_default=True)
@click.option("--input-format", default=None, metavar="NAME",
              help="Format of DATASET (default: from its extension or its files).")
@click.option("--output-format", default=None, metavar="NAME",
              help="Output format (default: from OUTPUT's extension; needed for a directory).")
@click.option("--cast", "casts", multiple=True, metavar="COLUMN=TYPE", callback=_parse_casts,
              help="Cast a DATASET column before the model reads it (repeatable), e.g. "
              "x=float32; TYPE: int8-64, uint8-64, float16/32/64, bool or string.")
@click.option("--text-option", "text_options", multiple=True, metavar="KEY=VALUE",
              callback=parse_runtime_options,
              help="A text model's job option (repeatable): input_column, output_column, chat, "
              "max_tokens, temperature, top_p, top_k, seed, stop; e.g. max_tokens=64.")
@click.option("--flatten-lists", is_flag=True,
              help="CSV output: write each fixed-size list column NAME as columns NAME_0, "
              "NAME_1, ... (one per element).")
@click.option("--json", "as_json", is_flag=True)
def predict_command(artifact: str, dataset: str, output: str, as_json: bool,
                    **options: Any) -> None:
    """Stream DATASET through ARTIFACT and write predictions to OUTPUT."""
    chosen = _output_format(output, options["output_format"], options["flatten_lists"])
    with signals_as_interrupt():
        summary = _predict(artifact, dataset, output, chosen, as_json, options)
    if as_json:
        emit_json(summary)
    else:
        click.echo(
            f"wrote {summary['rows']} rows to {summary['output_uri']} "
            f"in {summary['seconds']:.2f} s ({summary['rows_per_second']:,.0f} rows/s)"
        )


#: The format of a new OUTPUT whose name tells none (a directory of part files).
DEFAULT_DIRECTORY_FORMAT = "parquet"


def _output_format(output: str, output_format: str | None, flatten_lists: bool) -> str | None:
    """The output's format name when it can be told before any work (None: left to the
    library, for an existing dataset). A new OUTPUT with no format extension and no
    ``--output-format`` is a directory of Parquet part files, and the command says so on
    stderr before any work (the library itself has no default format, DS-012)."""
    import posixpath

    writers = [c for c in interlock.get_registry().all("dataset_format")
               if "write" in c.capabilities]
    chosen = output_format
    if chosen is not None and chosen not in {c.name for c in writers}:
        raise click.BadParameter(f"{chosen!r} is not a format that writes; installed: "
                                 f"{', '.join(sorted(c.name for c in writers))}",
                                 param_hint="--output-format")
    if chosen is None:
        name = posixpath.basename(output.rstrip("/")).lower()
        matching = [c.name for c in writers
                    if any(name.endswith(ext) for ext in c.extensions)]
        chosen = matching[0] if len(matching) == 1 else None
        if not matching and not _exists(output) and "parquet" in {c.name for c in writers}:
            chosen = DEFAULT_DIRECTORY_FORMAT
            click.echo(f"interlock: {output!r} names no format: writing a directory of Parquet "
                       "part files (--output-format NAME chooses another)", err=True)
        elif not matching and not _exists(output):
            extensions = ", ".join(ext for c in writers for ext in c.extensions)
            raise click.BadParameter(
                f"{output!r} names no format ({extensions} end a file name; a directory has "
                f"none): pass --output-format NAME, one of "
                f"{', '.join(sorted(c.name for c in writers))}", param_hint="OUTPUT")
    if flatten_lists and chosen is not None and chosen != "csv":
        raise click.BadParameter(f"it applies to CSV output; OUTPUT {output!r} is {chosen}",
                                 param_hint="--flatten-lists")
    return chosen


def _exists(uri: str) -> bool:
    """Whether something is at ``uri``; True when that cannot be told here (an unknown
    protocol, missing credentials), so that the library's own error tells what is wrong."""
    from fsspec.core import url_to_fs

    try:
        fs, path = url_to_fs(uri)
        return bool(fs.exists(path))
    except Exception:  # the library reports it, as an InterlockError, when it opens the URI
        return True


def _predict(artifact: str, dataset: str, output: str, output_format: str | None,
             as_json: bool, options: dict[str, Any]) -> dict[str, Any]:
    keep = options["keep"]
    source: Any = dataset
    if options["input_format"] is not None:
        source = interlock.open_dataset(dataset, format=options["input_format"])
    return interlock.predict_dataset(
        source,
        artifact,
        output,
        executor=options["executor"],
        executor_options=options["executor_options"] or None,
        resume=options["resume"],
        row_index=options["row_index"],
        runtime=options["runtime"],
        device=options["device"],
        runtime_options=options["runtime_options"] or None,
        batch_size=options["batch_size"],
        output_format=output_format,
        mode=options["mode"],
        keep_columns=[c.strip() for c in keep.split(",")] if keep else None,
        progress=not as_json,
        store=options["store"],
        casts=options["casts"] or None,
        text_options=options["text_options"] or None,
        write_options={"flatten_lists": True} if options["flatten_lists"] else None,
    )
