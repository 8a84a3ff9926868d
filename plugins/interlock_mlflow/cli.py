"""``interlock artifact import``: an MLflow model logged with the ONNX flavor, as a verified
interlock artifact (entry point ``import`` of the ``interlock.commands.artifact`` group).

A thin shell over :func:`interlock_mlflow.import_model`; click is the only import here.
"""

from __future__ import annotations

import json
import re

import click

__all__ = ["import_command"]

_VALID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def _checked(option: str) -> object:
    def check(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
        if value is not None and not _VALID.match(value):
            raise click.BadParameter(
                f"{value!r} is not a valid artifact {option[2:]} (1-128 letters, digits, '.', "
                "'_' or '-')"
            )
        return value

    return check


@click.command("import")
@click.argument("model_uri", metavar="models:/NAME/VERSION")
@click.option("--tracking-uri", required=True, envvar="MLFLOW_TRACKING_URI", metavar="URI",
              help="MLflow tracking (and registry) URI: sqlite:///PATH or http(s)://HOST:PORT "
              "[default: $MLFLOW_TRACKING_URI].")
@click.option("--store", required=True, metavar="ROOT",
              help="interlock store root to save the artifact in (a path or any store URI).")
@click.option("--name", default=None, callback=_checked("--name"),
              help="Artifact name [default: the registered model's name].")
@click.option("--version", "version", default=None, callback=_checked("--version"),
              help="Artifact version [default: MLflow's version number].")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def import_command(
    model_uri: str,
    tracking_uri: str,
    store: str,
    name: str | None,
    version: str | None,
    as_json: bool,
) -> None:
    """Import a model version logged with MLflow's ONNX flavor as a verified artifact.

    Models of other flavors (pickled scikit-learn, PyTorch, python_function, ...) are refused
    from their MLmodel file alone, without loading them.
    """
    from interlock_mlflow.importing import import_model, parse_model_uri

    registered, _ = parse_model_uri(model_uri)
    if name is None and not _VALID.match(registered):
        raise click.BadParameter(
            f"the registered model name {registered!r} is not a valid artifact name; "
            "give one with --name",
            param_hint="models:/NAME/VERSION",
        )
    artifact = import_model(
        model_uri, tracking_uri=tracking_uri, store=store, name=name, version=version
    )
    if as_json:
        click.echo(json.dumps({"ref": artifact.ref, "name": artifact.name,
                               "version": artifact.version, "uri": artifact.uri}))
        return
    click.echo(f"imported {model_uri} as {artifact.name}:{artifact.version} ({artifact.digest})")
    click.echo(f"uri: {artifact.uri}")
