"""``interlock artifact export-triton``: a thin shell over :func:`interlock_triton.export_triton`.

Registered in the ``interlock.commands.artifact`` entry-point group; errors are
:class:`interlock.InterlockError` and become one line (exit 1) in the ``interlock`` command.
"""

from __future__ import annotations

import json

import click

from interlock.errors import InterlockError

from interlock_triton.config import DEFAULT_MAX_BATCH_SIZE

__all__ = ["export_triton_command"]

#: export_triton's keywords as this command spells them, for hints.
_FLAGS = (
    ("name=NAME", "--name NAME"),
    ("version=N", "--version N"),
    ("overwrite=True", "--overwrite"),
    ("max_batch_size=", "--max-batch-size "),
)


def _in_cli_words(error: InterlockError) -> InterlockError:
    if error.hint:
        for keyword, flag in _FLAGS:
            error.hint = error.hint.replace(keyword, flag)
    return error


@click.command("export-triton")
@click.argument("ref")
@click.argument("repo_dir", type=click.Path(file_okay=True, dir_okay=True))
@click.option(
    "--store",
    metavar="ROOT",
    default=None,
    help="Artifact store to load REF from (default: $INTERLOCK_STORE or the user data "
    "directory); REF may also be an artifact directory.",
)
@click.option("--name", default=None, help="Triton model name (default: the artifact's name).")
@click.option(
    "--version",
    "version",
    type=click.IntRange(min=1),
    default=None,
    help="Triton version, a positive integer (default: the artifact's version, when it is one).",
)
@click.option(
    "--max-batch-size",
    type=click.IntRange(min=0),
    default=DEFAULT_MAX_BATCH_SIZE,
    show_default=True,
    help="max_batch_size when every tensor starts with a symbolic batch; 0: no batching by "
    "Triton (full shapes in dims).",
)
@click.option("--overwrite", is_flag=True, help="Replace an existing version and config.pbtxt.")
@click.option("--json", "as_json", is_flag=True, help="Print where the model went as JSON.")
def export_triton_command(
    ref: str,
    repo_dir: str,
    store: str | None,
    name: str | None,
    version: int | None,
    max_batch_size: int,
    overwrite: bool,
    as_json: bool,
) -> None:
    """Write the artifact REF into the Triton model repository REPO_DIR as
    REPO_DIR/NAME/VERSION/model.onnx, with a config.pbtxt generated from its signature."""
    from interlock_triton.export import export_triton

    try:
        done = export_triton(
            ref,
            repo_dir,
            store=store,
            name=name,
            version=version,
            max_batch_size=max_batch_size,
            overwrite=overwrite,
        )
    except InterlockError as exc:
        raise _in_cli_words(exc) from None
    if as_json:
        click.echo(
            json.dumps(
                {
                    "name": done.name,
                    "version": done.version,
                    "model_dir": str(done.model_dir),
                    "version_dir": str(done.version_dir),
                    "digest": done.manifest.digest,
                },
                indent=2,
            )
        )
        return
    click.echo(f"exported {done.manifest.ref} to {done.version_dir}")
    click.echo(f"config:   {done.model_dir / 'config.pbtxt'}")
