"""What several commands share: JSON output and the ``--store`` and ``--runtime-option``
options."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import click

__all__ = ["emit_json", "parse_runtime_options", "runtime_option", "store_option"]

F = TypeVar("F", bound=Callable[..., Any])


def emit_json(value: Any) -> None:
    """Print ``value`` as indented JSON (what ``--json`` gives)."""
    click.echo(json.dumps(value, indent=2, sort_keys=False, default=str))


def parse_runtime_options(
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


def runtime_option(function: F) -> F:
    """The repeatable ``--runtime-option KEY=VALUE``, parsed into a dict."""
    return click.option(
        "--runtime-option",
        "runtime_options",
        multiple=True,
        metavar="KEY=VALUE",
        callback=parse_runtime_options,
        help="An option of the runtime (repeatable), e.g. intra_op_num_threads=1; "
        "the runtime names the options it accepts.",
    )(function)


def store_option(function: F) -> F:
    """``--store ROOT``: the artifact store root."""
    return click.option(
        "--store",
        metavar="ROOT",
        default=None,
        help="Artifact store root URI (default: $INTERLOCK_STORE or the user data directory).",
    )(function)
