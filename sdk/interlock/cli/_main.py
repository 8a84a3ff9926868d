"""The ``interlock`` command line: a thin shell over the public API.

Every command calls a public function an integrator could call. An :class:`InterlockError`
becomes one line on stderr and exit status 1; anything else is a bug and shows its traceback.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click

import interlock
from interlock.errors import InterlockError

__all__ = ["main"]

F = TypeVar("F", bound=Callable[..., Any])


def _emit_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, sort_keys=False, default=str))


def _runtime_options(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> dict[str, Any]:
    """``KEY=VALUE`` pairs; a VALUE that parses as JSON (3, true, 0.5, [1]) is taken as such."""
    options: dict[str, Any] = {}
    for item in values:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(
                f"{item!r} is not KEY=VALUE (for example intra_op_num_threads=1)", param=param
            )
        try:
            options[key.strip()] = json.loads(raw)
        except ValueError:
            options[key.strip()] = raw
    return options


def _runtime_option(function: F) -> F:
    return click.option(
        "--runtime-option",
        "runtime_options",
        multiple=True,
        metavar="KEY=VALUE",
        callback=_runtime_options,
        help="An option of the runtime (repeatable), e.g. intra_op_num_threads=1; "
        "the runtime names the options it accepts.",
    )(function)


def _store_option(function: F) -> F:
    return click.option(
        "--store",
        metavar="ROOT",
        default=None,
        help="Artifact store root URI (default: $INTERLOCK_STORE or the user data directory).",
    )(function)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(interlock.__version__, prog_name="interlock")
def cli() -> None:
    """interlock: standard interfaces and plugins for the AI stack."""


# -- plugins -------------------------------------------------------------------------------


@cli.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--no-load", is_flag=True, help="Read entry-point metadata only; import nothing.")
def plugins_command(as_json: bool, no_load: bool) -> None:
    """List installed plugins, their components and capabilities."""
    if no_load:
        infos = interlock.discover_plugins()
        conflicts: list[str] = []
    else:
        registry = interlock.get_registry()
        infos = registry.plugins
        conflicts = registry.conflicts()
    if as_json:
        from interlock.plugins import capability_table

        _emit_json({"plugins": [i.to_dict() for i in infos], "conflicts": conflicts,
                    "capabilities": capability_table()})
        return
    for info in infos:
        origin = f"{info.distribution} {info.version}" if info.distribution else "registered in-process"
        click.echo(f"{info.name}  [{info.status}]  ({origin})")
        if info.error:
            click.echo(f"    error: {info.error}")
        for claim in info.components:
            caps = ", ".join(sorted(claim.component.capabilities)) or "-"
            click.echo(f"    {claim.kind:<15} {claim.name:<14} capabilities: {caps}")
    for problem in conflicts:
        click.echo(f"conflict: {problem}")


# -- datasets ------------------------------------------------------------------------------


@cli.group("dataset")
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
        _emit_json(info)
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


# -- artifacts -----------------------------------------------------------------------------


@cli.group("artifact")
def artifact_group() -> None:
    """Inspect, verify and list model artifacts."""


@artifact_group.command("inspect")
@click.argument("ref")
@_store_option
@click.option("--json", "as_json", is_flag=True, help="Print the whole manifest as JSON.")
def artifact_inspect(ref: str, store: str | None, as_json: bool) -> None:
    """Show an artifact's manifest (REF: a directory URI, NAME, NAME:VERSION or NAME@sha256:...)."""
    artifact = interlock.load_artifact(ref, store=store)
    manifest = artifact.manifest
    if as_json:
        click.echo(manifest.model_dump_json(indent=2))
        return
    click.echo(f"{manifest.name}:{manifest.version}  {manifest.digest}")
    click.echo(f"uri:      {artifact.uri}")
    click.echo(f"format:   onnx (IR {manifest.onnx.ir_version}, opsets {manifest.onnx.opsets})")
    click.echo(f"producer: {manifest.producer.name} {manifest.producer.version}")
    click.echo(f"created:  {manifest.created_at.isoformat()}")
    click.echo("inputs:")
    for spec in manifest.signature.inputs:
        bound = [b.columns for b in manifest.columns.inputs if b.tensor == spec.name]
        click.echo(f"  {spec.name}: {spec.describe()}  <- columns {bound[0] if bound else '-'}")
    click.echo("outputs:")
    for spec in manifest.signature.outputs:
        bound_out = [b.column for b in manifest.columns.outputs if b.tensor == spec.name]
        click.echo(f"  {spec.name}: {spec.describe()}  -> column {bound_out[0] if bound_out else '-'}")
    click.echo("files:")
    for entry in manifest.files:
        click.echo(f"  {entry.path}  {entry.size} bytes  sha256:{entry.sha256[:16]}...")
    for item in manifest.lineage:
        click.echo(f"lineage:  {item.role} {item.uri} {item.fingerprint}")


@artifact_group.command("verify")
@click.argument("ref")
@_store_option
@click.option("--json", "as_json", is_flag=True)
def artifact_verify(ref: str, store: str | None, as_json: bool) -> None:
    """Check every file of an artifact against its manifest; exit 1 if anything is wrong."""
    artifact = interlock.load_artifact(ref, store=store, verify=True)
    result = {"ref": artifact.ref, "uri": artifact.uri, "files": len(artifact.manifest.files), "ok": True}
    if as_json:
        _emit_json(result)
    else:
        click.echo(f"ok: {artifact.ref} ({result['files']} files verified)")


@artifact_group.command("list")
@click.argument("root", required=False)
@click.option("--json", "as_json", is_flag=True)
def artifact_list(root: str | None, as_json: bool) -> None:
    """List the artifacts and versions in a store root."""
    store = interlock.open_store(root)
    listing = {name: store.versions(name) for name in store.names()}
    if as_json:
        _emit_json({"root": store.root, "artifacts": listing})
        return
    if not listing:
        click.echo(f"no artifacts in {store.root}")
    for name, versions in listing.items():
        click.echo(f"{name}: {', '.join(versions)}")


# -- prediction ----------------------------------------------------------------------------


@cli.command("predict")
@click.argument("artifact")
@click.argument("dataset")
@click.argument("output")
@_store_option
@click.option("--runtime", default="onnxruntime", show_default=True)
@click.option("--device", default="cpu", show_default=True)
@_runtime_option
@click.option("--executor", default="local", show_default=True)
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
    batch_size: int,
    keep: str | None,
    mode: str,
    output_format: str | None,
    as_json: bool,
) -> None:
    """Stream DATASET through ARTIFACT and write predictions to OUTPUT."""
    summary = interlock.predict_dataset(
        dataset,
        artifact,
        output,
        executor=executor,
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
    if as_json:
        _emit_json(summary)
    else:
        click.echo(
            f"wrote {summary['rows']} rows to {summary['output_uri']} "
            f"in {summary['seconds']:.2f} s ({summary['rows_per_second']:,.0f} rows/s)"
        )


# -- serving -------------------------------------------------------------------------------


def _server_ports(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> dict[str, int | None] | None:
    """``NAME[=PORT]`` per server (no PORT: its default port; 0: any free); none given: None."""
    servers: dict[str, int | None] = {}
    for item in values:
        name, has_port, port = item.partition("=")
        name = name.strip()
        if not name or (has_port and not port.strip().isdigit()) or name in servers:
            problem = "is given twice" if name in servers else "is not NAME or NAME=PORT"
            raise click.BadParameter(f"{item!r} {problem} (for example rest=8000)", param=param)
        number = int(port) if has_port else None
        if number is not None and number > 65535:
            raise click.BadParameter(f"{item!r}: port {number} is above 65535", param=param)
        servers[name] = number
    return servers or None


@cli.command("serve")
@click.argument("sources", nargs=-1, required=True)
@_store_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind (loopback by default).")
@click.option("--server", "servers", multiple=True, metavar="NAME[=PORT]", callback=_server_ports,
              help="A server to start (repeatable), e.g. rest=8000 or grpc; no PORT: its default "
              "port, 0: any free port. Default: every installed server at its default port.")
@click.option("--token", envvar="INTERLOCK_TOKEN", default=None, help="Require this bearer token (or $INTERLOCK_TOKEN).")
@click.option("--max-batch-size", default=1, show_default=True, type=click.IntRange(min=1), help="Above 1 turns on dynamic batching.")
@click.option("--max-batch-delay-ms", default=2.0, show_default=True, type=click.FloatRange(min=0))
@click.option("--max-queue", default=256, show_default=True, type=click.IntRange(min=1), help="Requests waiting per model before 503.")
@click.option("--max-request-bytes", default=64 * 1024 * 1024, show_default=True, type=click.IntRange(min=1))
@click.option("--runtime", default="onnxruntime", show_default=True)
@click.option("--device", default="cpu", show_default=True)
@_runtime_option
@click.option("--grace-seconds", default=10.0, show_default=True, type=click.FloatRange(min=0))
def serve_command(
    sources: tuple[str, ...],
    store: str | None,
    host: str,
    servers: dict[str, int | None] | None,
    token: str | None,
    max_batch_size: int,
    max_batch_delay_ms: float,
    max_queue: int,
    max_request_bytes: int,
    runtime: str,
    device: str,
    runtime_options: dict[str, Any],
    grace_seconds: float,
) -> None:
    """Serve artifacts with every installed server (or those given) until SIGINT/SIGTERM.

    SOURCES are artifact references (NAME, NAME:VERSION, NAME@sha256:...), artifact
    directories, or store roots (every artifact and version in them).
    """

    def started(running: interlock.RunningServer) -> None:
        for model in running.repository.models():
            click.echo(f"model {model.name}:{model.version} ({model.runtime}) ready")
        registry = interlock.get_registry()
        for name, handle in running.handles.items():
            description = registry.get("server", name).description
            click.echo(f"server {name} on {handle.url}" + (f" - {description}" if description else ""))
        click.echo("press Ctrl-C or send SIGTERM to stop", err=True)

    interlock.serve(
        list(sources),
        store=store,
        servers=servers,
        host=host,
        token=token,
        max_batch_size=max_batch_size,
        max_batch_delay_ms=max_batch_delay_ms,
        max_queue=max_queue,
        max_request_bytes=max_request_bytes,
        runtime=runtime,
        device=device,
        runtime_options=runtime_options or None,
        grace_seconds=grace_seconds,
        block=True,
        on_started=started,
    )
    click.echo("stopped", err=True)


# -- conformance ---------------------------------------------------------------------------


@cli.command("certify")
@click.argument("plugin", required=False)
@click.option("--output", "output_dir", default="interlock-certification", show_default=True,
              help="Directory for report.json, junit.xml and summary.md.")
@click.option("--server", "server_url", default=None, metavar="URL",
              help="Certify the Open Inference Protocol REST server at URL instead of a plugin.")
@click.option("--grpc", "grpc_address", default=None, metavar="HOST:PORT",
              help="Certify the Open Inference Protocol gRPC server at HOST:PORT.")
@click.option("--model", "models", multiple=True, metavar="NAME",
              help="A model the server serves, to check (repeatable; with --server/--grpc).")
@click.option("--token", envvar="INTERLOCK_TOKEN", default=None,
              help="Bearer token the server requires (or $INTERLOCK_TOKEN; with --server/--grpc).")
def certify_command(
    plugin: str | None,
    output_dir: str,
    server_url: str | None,
    grpc_address: str | None,
    models: tuple[str, ...],
    token: str | None,
) -> None:
    """Certify an installed plugin (by its entry-point name), or a running server (by its
    address: --server URL and/or --grpc HOST:PORT), against spec v1.

    Exits 0 only when every claimed requirement passes.
    """
    by_address = server_url is not None or grpc_address is not None
    if by_address == (plugin is not None):
        raise click.UsageError("name a PLUGIN, or give --server URL and/or --grpc HOST:PORT (not both)")
    token_given = click.get_current_context().get_parameter_source("token")
    if not by_address and (models or token_given == click.core.ParameterSource.COMMANDLINE):
        raise click.UsageError("--model and --token only apply with --server or --grpc")
    if by_address:
        from interlock_conformance.oip_check import certify_server

        report = certify_server(output_dir, server_url, grpc_address, model=list(models), token=token)
        for result in report.failed():
            for failure in result.failures:
                click.echo(f"FAILED {result.id} {failure.case}: {failure.message}", err=True)
        subject = report.plugin.name
    else:
        try:
            from interlock_conformance import certify
        except ImportError as exc:
            raise interlock.MissingDependencyError("pytest", "conformance", purpose="interlock certify") from exc

        assert plugin is not None
        report = certify(plugin, output_dir)
        subject = plugin
    click.echo(f"{report.verdict}: {subject} (reports in {output_dir})")
    if report.verdict != "certified":
        sys.exit(1)


@cli.command("matrix")
@click.option("--output", "output_dir", default="interlock-matrix", show_default=True,
              help="Directory for matrix.json and matrix.md.")
@click.option("--section", "sections", multiple=True, metavar="NAME",
              help="Run only this section (repeatable): datasets, stores, runtimes, exporters, "
              "servers, executors.")
@click.option("--json", "as_json", is_flag=True, help="Print matrix.json instead of the tables.")
def matrix_command(output_dir: str, sections: tuple[str, ...], as_json: bool) -> None:
    """Check every installed component with every other and print the interop matrix.

    Exits 0 only when every cell passes and every installed plugin loaded.
    """
    from interlock_conformance.matrix import run_matrix
    from interlock_conformance.matrix_render import matrix_text

    def say(line: str) -> None:
        click.echo(f"running {line}", err=True)

    result = run_matrix(output_dir, sections=sections or None, say=None if as_json else say)
    if as_json:
        click.echo(result.model_dump_json(indent=2))
    else:
        click.echo(matrix_text(result))
        click.echo(f"written: {output_dir}/matrix.json, {output_dir}/matrix.md")
    if not result.passed:
        sys.exit(1)


# -- quickstart ----------------------------------------------------------------------------


@cli.command("quickstart")
@click.argument("directory", default="interlock-quickstart")
@click.option("--rows", default=200_000, show_default=True, type=click.IntRange(min=100))
@click.option("--json", "as_json", is_flag=True)
def quickstart_command(directory: str, rows: int, as_json: bool) -> None:
    """Run the whole flow on local files: data, training, export, runtimes, batch prediction."""
    from interlock.cli._quickstart import run_quickstart

    report = run_quickstart(directory, rows=rows, say=None if as_json else click.echo)
    if as_json:
        _emit_json(report)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``interlock`` console script."""
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="interlock", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except InterlockError as exc:
        click.echo(f"interlock: error: {exc}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
