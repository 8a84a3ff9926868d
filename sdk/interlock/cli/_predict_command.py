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
@click.option("--output-format", default=None, help="Output format (default: from OUTPUT's extension).")
@click.option("--json", "as_json", is_flag=True)
def predict_command(
    artifact: str,
    dataset: str,
    output: str,
    store: str | None,
    runtime: str,
    device: str,
    runtime_options: dict[str, Any],
    executor: str,
    executor_options: dict[str, Any],
    resume: bool,
    row_index: str | None,
    batch_size: int,
    keep: str | None,
    mode: str,
    output_format: str | None,
    as_json: bool,
) -> None:
    """Stream DATASET through ARTIFACT and write predictions to OUTPUT."""
    with signals_as_interrupt():
        summary = _predict(
            dataset, artifact, output, store, runtime, device, runtime_options, executor,
            executor_options, resume, row_index, batch_size, keep, mode, output_format, as_json,
        )
    if as_json:
        emit_json(summary)
    else:
        click.echo(
            f"wrote {summary['rows']} rows to {summary['output_uri']} "
            f"in {summary['seconds']:.2f} s ({summary['rows_per_second']:,.0f} rows/s)"
        )


def _predict(
    dataset: str, artifact: str, output: str, store: str | None, runtime: str, device: str,
    runtime_options: dict[str, Any], executor: str, executor_options: dict[str, Any],
    resume: bool, row_index: str | None, batch_size: int, keep: str | None, mode: str,
    output_format: str | None, as_json: bool,
) -> dict[str, Any]:
    return interlock.predict_dataset(
        dataset,
        artifact,
        output,
        executor=executor,
        executor_options=executor_options or None,
        resume=resume,
        row_index=row_index,
        runtime=runtime,
        device=device,
        runtime_options=runtime_options or None,
        batch_size=batch_size,
        output_format=output_format,
        mode=mode,
        keep_columns=[c.strip() for c in keep.split(",")] if keep else None,
        progress=not as_json,
        store=store,
    )
