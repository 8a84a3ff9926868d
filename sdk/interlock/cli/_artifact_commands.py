"""``interlock artifact inspect|verify|list``: model artifacts and the stores that hold them.

Installed packages add subcommands through the ``interlock.commands.artifact`` entry-point
group (``interlock artifact export-triton`` comes with the Triton plugin).
"""

from __future__ import annotations

import os

import click

import interlock
from interlock.cli._commands import EntryPointGroup, subcommands_group
from interlock.cli._options import emit_json, store_option

__all__ = ["artifact_group"]


@click.group("artifact", cls=EntryPointGroup, entry_point_group=subcommands_group("artifact"))
def artifact_group() -> None:
    """Inspect, verify, list and export model artifacts."""


@artifact_group.command("inspect")
@click.argument("ref")
@store_option
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
@store_option
@click.option("--json", "as_json", is_flag=True)
def artifact_verify(ref: str, store: str | None, as_json: bool) -> None:
    """Check every file of an artifact against its manifest; exit 1 if anything is wrong."""
    artifact = interlock.load_artifact(ref, store=store, verify=True)
    result = {"ref": artifact.ref, "uri": artifact.uri, "files": len(artifact.manifest.files), "ok": True}
    if as_json:
        emit_json(result)
    else:
        click.echo(f"ok: {artifact.ref} ({result['files']} files verified)")


@artifact_group.command("list")
@click.argument("root", required=False)
@store_option
@click.option("--json", "as_json", is_flag=True)
def artifact_list(root: str | None, store: str | None, as_json: bool) -> None:
    """List the artifacts and versions in a store (ROOT or --store; default: the default store)."""
    if root is not None and store is not None and root != store:
        raise click.UsageError(f"give the store once: ROOT {root!r} or --store {store!r}")
    given = store if store is not None else root
    if given is not None:
        _check_local_store_exists(given)
    opened = interlock.open_store(given)
    listing = {name: opened.versions(name) for name in opened.names()}
    if as_json:
        emit_json({"root": opened.root, "artifacts": listing})
        return
    if not listing:
        click.echo(f"no artifacts in {opened.root}")
    for name, versions in listing.items():
        click.echo(f"{name}: {', '.join(versions)}")


def _check_local_store_exists(root: str) -> None:
    """A store root the user named on the local filesystem must exist (not an empty store)."""
    if "::" in root or ("://" in root and not root.startswith("file://")):
        return
    path = os.path.expanduser(root.removeprefix("file://"))
    if not os.path.isdir(path):
        what = "is a file, not a directory" if os.path.exists(path) else "does not exist"
        raise interlock.ArtifactError(
            f"store not found: {root} {what}",
            hint="pass the directory of an existing store with --store ROOT (a store is "
            "created by the first save into it)",
        )
