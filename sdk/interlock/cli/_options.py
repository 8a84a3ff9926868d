"""What several commands share: JSON output and the ``--store`` and ``--runtime-option``
options."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any, TypeVar

import click

__all__ = [
    "check_output_directory",
    "emit_json",
    "parse_runtime_options",
    "runtime_option",
    "store_option",
]

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


def check_output_directory(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> str | None:
    """A click callback for a local output directory: refuse, before any work, a path that is
    an existing file or that cannot be created or written (naming the flag or argument)."""
    if value is None or "://" in value:
        return value
    path = os.path.abspath(os.path.expanduser(value))
    label = "/".join(param.opts) if param.param_type_name == "option" else (param.name or "")
    label = label.upper() if param.param_type_name == "argument" else label
    if os.path.exists(path) and not os.path.isdir(path):
        raise click.BadParameter(f"{value!r} is a file, not a directory", ctx=ctx, param=param,
                                 param_hint=label)
    existing = path
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing) or not os.access(existing, os.W_OK | os.X_OK):
        raise click.BadParameter(
            f"{value!r} cannot be written ({existing} is not a writable directory)",
            ctx=ctx, param=param, param_hint=label,
        )
    return value
