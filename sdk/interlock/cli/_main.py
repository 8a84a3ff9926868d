"""The ``interlock`` command line: a thin shell over the public API.

Every command calls a public function an integrator could call. An :class:`InterlockError`
becomes one line on stderr and exit status 1; anything else is a bug and shows its traceback.

The commands live in one module per command group (``_plugins_command``, ``_dataset_commands``,
``_artifact_commands``, ``_predict_command``, ``_quickstart``; ``serve`` here); installed
packages add theirs through the ``interlock.commands`` entry-point group (:mod:`._commands`),
as the conformance suite adds ``certify`` and ``matrix``.
"""

from __future__ import annotations

import json
import re
import signal
import sys
from collections.abc import Sequence
from typing import Any

import click

import interlock
from interlock.cli._artifact_commands import artifact_group
from interlock.cli._commands import EntryPointGroup
from interlock.cli._dataset_commands import dataset_group
from interlock.cli._options import runtime_option as _runtime_option
from interlock.cli._options import store_option as _store_option
from interlock.cli._plugins_command import plugins_command
from interlock.cli._predict_command import predict_command
from interlock.cli._quickstart import quickstart_command
from interlock.errors import InterlockError

__all__ = ["cli", "main"]


@click.group(cls=EntryPointGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(interlock.__version__, prog_name="interlock")
def cli() -> None:
    """interlock: standard interfaces and plugins for the AI stack."""


for _command in (plugins_command, dataset_group, artifact_group, predict_command,
                 quickstart_command):
    cli.add_command(_command)


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
@click.option("--text-engine", default=None, metavar="NAME",
              help="Generate text with this text engine (e.g. onnxruntime-genai) instead of "
              "interlock's own loop.")
@click.option("--grace-seconds", default=10.0, show_default=True, type=click.FloatRange(min=0))
@click.option("--keep-alive-s", default=300.0, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="Seconds a connection may stay idle (no request, no byte) before it is closed.")
@click.option("--access-log", is_flag=True, default=False,
              help="Write one line per answered request to stderr (logger interlock.access).")
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
    text_engine: str | None,
    grace_seconds: float,
    keep_alive_s: float,
    access_log: bool,
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
        text_engine=text_engine,
        grace_seconds=grace_seconds,
        keep_alive_s=keep_alive_s,
        access_log=access_log,
        block=True,
        on_started=started,
    )
    click.echo("stopped", err=True)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``interlock`` console script.

    A failure prints one line on stderr and exits 1 (2 for a usage error); a command run with
    ``--json`` also prints ``{"ok": false, "error": ..., "kind": ..., "hint": ...}`` on stdout.
    """
    args = list(argv) if argv is not None else sys.argv[1:]
    try:
        cli.main(args=args, prog_name="interlock", standalone_mode=False)
    except click.exceptions.Abort as exc:
        signum = getattr(exc.__cause__ or exc.__context__, "signum", None)
        if signum is not None:  # SIGTERM or SIGHUP during a job (SignalInterrupt)
            click.echo(f"interlock: stopped by {signal.Signals(signum).name}; nothing was "
                       "published", err=True)
            sys.exit(128 + signum)
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        _json_error(args, exc.format_message(), "usage" if exc.exit_code == 2 else "error", None)
        exc.show()
        sys.exit(exc.exit_code)
    except InterlockError as exc:
        command = next((arg for arg in args if not arg.startswith("-")), "")
        message = cli_message(exc.message)
        hint = cli_words(exc.hint, exc.message, command) if exc.hint else None
        _json_error(args, message, type(exc).__name__, hint)
        click.echo(f"interlock: error: {message}" + (f" (hint: {hint})" if hint else ""),
                   err=True)
        sys.exit(1)


#: Python keywords of the API whose hints the CLI shows, and the flags that set them there.
_FLAGS = {"mode": "--mode", "runtime": "--runtime", "device": "--device",
          "row_index": "--row-index", "batch_size": "--batch-size",
          "output_format": "--output-format", "executor": "--executor"}
_KEYWORD = re.compile(r"\b(" + "|".join(_FLAGS) + r")=(?:'([^']*)'|(\w[\w.-]*))")
#: Hint phrases with no keyword=value shape, in the CLI's words.
_PHRASES = [
    (re.compile(r"\bflatten_lists=True"), "--flatten-lists"),
    (re.compile(r"\bcasts=\{'([^']*)': '([^']*)'\}"), r"--cast \1=\2"),
    (re.compile(r"\bkeep_columns\b"), "--keep"),
    (re.compile(r"text_options(?:=\{'input_column': \.\.\.\}| input_column)"),
     "--text-option input_column=NAME"),
    (re.compile(r"\btext_options\b"), "--text-option"),
    (re.compile(r"; write one with interlock\.write_dataset\(data, uri\)"),
     " (interlock predict writes datasets, and interlock.write_dataset(data, uri) from Python)"),
]
#: The flag that ``format=`` stands for, by command (predict writes with --output-format, but
#: an output's format is settled before it runs, so its format errors are about DATASET).
_FORMAT_FLAGS = {"predict": "--input-format", "dataset": "--format"}
#: ``format=`` as a keyword to pass, not inside a ``write_dataset(data, uri, format=...)`` call.
_FORMAT = re.compile(r"(?<!uri, )\bformat=(?:'([^']*)')?")
_TENSOR_CAST = re.compile(r"column\.cast\(pyarrow\.(\w+?)_?\(\)\)")
#: How messages name the Python arguments of the API, and what the CLI calls them.
_SUBJECTS = {"output_uri ": "OUTPUT ", "keep_columns names": "--keep names",
             "row_index ": "--row-index ", "casts names": "--cast names",
             "batch_size must": "--batch-size must", "text_options ": "--text-option "}


def cli_words(hint: str, message: str = "", command: str = "") -> str:
    """A hint written for Python callers (``mode='overwrite'``) in the CLI's words
    (``--mode overwrite``); ``message`` is the error's own text (a column it names) and
    ``command`` the command that failed, where a keyword's flag depends on them."""
    words = _KEYWORD.sub(lambda m: f"{_FLAGS[m[1]]} {m[2] if m[2] is not None else m[3]}", hint)
    for pattern, replacement in _PHRASES:
        words = pattern.sub(replacement, words)
    flag = _FORMAT_FLAGS.get(command)
    if flag is not None:
        words = _FORMAT.sub(lambda m: f"{flag} {'NAME' if m[1] in (None, '<name>') else m[1]}",
                            words)
    column = re.search(r"\bcolumn '([^']+)'", message)
    if column is not None:
        words = _TENSOR_CAST.sub(lambda m: f"--cast {column[1]}={m[1]}", words)
    return words


def cli_message(message: str) -> str:
    """An error message in the CLI's words where it starts with the name of a Python
    argument (``output_uri 'x' is the dataset being read`` names OUTPUT)."""
    for python, flag in _SUBJECTS.items():
        if message.startswith(python):
            return flag + message[len(python):]
    return message


def _json_error(args: Sequence[str], message: str, kind: str, hint: str | None) -> None:
    """The error object on stdout, for a command run with ``--json``."""
    if "--json" in args:
        click.echo(json.dumps({"ok": False, "error": message, "kind": kind, "hint": hint}))


if __name__ == "__main__":
    main()
