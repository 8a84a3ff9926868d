"""Commands that installed packages add to ``interlock``, through an entry-point group.

A distribution adds a command by naming a click command object in the ``interlock.commands``
entry-point group::

    [project.entry-points."interlock.commands"]
    certify = "interlock_conformance.cli:certify_command"

A command group may take subcommands from its own entry-point group, named after it:
``interlock artifact`` reads ``interlock.commands.artifact`` (the Triton plugin adds
``interlock artifact export-triton`` there, the MLflow plugin ``interlock artifact import``).

:class:`EntryPointGroup` lists those commands from the installed distributions' metadata
without importing anything (``interlock --help`` stays fast) and imports one only when it
runs. A command that cannot be imported is one line naming it and how to fix it (the hint of
an :class:`~interlock.errors.InterlockError` it raised, or the extra of its distribution that
brings a missing module), never a traceback. The commands interlock itself defines come first:
an entry point cannot replace them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import click

from interlock.errors import InterlockError, PluginError

__all__ = ["COMMANDS_GROUP", "EntryPointGroup", "ProvidedCommand", "subcommands_group"]

#: The entry-point group whose entries (name -> click command object) become commands.
COMMANDS_GROUP = "interlock.commands"

#: Said of a command that is neither interlock's own nor installed (the only place the core
#: names the conformance suite: it is a separate layer that adds its commands like any package).
_WHERE_COMMANDS_COME_FROM = (
    f"Commands come with interlock or from installed packages that register them in the "
    f"{COMMANDS_GROUP!r} entry-point group; the conformance suite's (certify, matrix) come "
    "with: pip install 'interlock[conformance]'"
)


def subcommands_group(group: str) -> str:
    """The entry-point group whose entries become subcommands of the command group ``group``
    (``"artifact"`` -> ``"interlock.commands.artifact"``)."""
    return f"{COMMANDS_GROUP}.{group}"


@dataclass(frozen=True)
class ProvidedCommand:
    """A command an installed distribution registers: its entry point, read from metadata."""

    name: str
    value: str
    distribution: str | None
    version: str | None

    @property
    def origin(self) -> str:
        """``"acme-tools 1.2"``, or the entry point's value when it has no distribution."""
        if self.distribution is None:
            return self.value
        return f"{self.distribution} {self.version}" if self.version else self.distribution


def provided_commands(group: str = COMMANDS_GROUP) -> dict[str, list[ProvidedCommand]]:
    """The commands of ``group`` by name, each name with the distinct entry points that claim
    it (more than one is a conflict), read from metadata without importing anything."""
    found: dict[str, list[ProvidedCommand]] = {}
    for point in metadata.entry_points(group=group):
        dist = getattr(point, "dist", None)
        provided = ProvidedCommand(
            point.name,
            point.value,
            dist.metadata["Name"] if dist is not None else None,
            dist.version if dist is not None else None,
        )
        claims = found.setdefault(point.name, [])
        # The same distribution seen twice on sys.path is one claim, not a conflict.
        if all(c.value != provided.value or c.distribution != provided.distribution for c in claims):
            claims.append(provided)
    return found


class EntryPointGroup(click.Group):
    """A click group whose commands are its own plus those of an entry-point group."""

    def __init__(self, *args: Any, entry_point_group: str = COMMANDS_GROUP, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.entry_point_group = entry_point_group
        self._provided: dict[str, list[ProvidedCommand]] | None = None
        self._loaded: dict[str, click.Command] = {}  # entry-point commands imported so far

    def provided(self) -> dict[str, list[ProvidedCommand]]:
        """The entry-point commands whose names are not the group's own (read once)."""
        if self._provided is None:
            self._provided = {
                name: claims
                for name, claims in provided_commands(self.entry_point_group).items()
                if name not in self.commands
            }
        return self._provided

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *self.provided()})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = self.commands.get(cmd_name) or self._loaded.get(cmd_name)
        if command is not None:
            return command
        claims = self.provided().get(cmd_name)
        if not claims:
            return None
        if len(claims) > 1:
            raise PluginError(
                f"the command {cmd_name!r} is registered by more than one package: "
                + ", ".join(f"{c.value} ({c.origin})" for c in claims),
                hint=f"uninstall all but one of them (entry-point group {self.entry_point_group!r})",
            )
        command = self._loaded[cmd_name] = _load(claims[0])
        return command

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name = click.utils.make_str(args[0]) if args else None
        unknown = name is not None and not name.startswith("-") and not ctx.resilient_parsing
        if unknown and self.get_command(ctx, name or "") is None:
            if self.entry_point_group == COMMANDS_GROUP:
                ctx.fail(f"No such command {name!r}. {_WHERE_COMMANDS_COME_FROM}")
            ctx.fail(
                f"No such command {name!r}. Commands of {ctx.command_path!r} come with "
                f"interlock or from installed packages that register them in the "
                f"{self.entry_point_group!r} entry-point group"
            )
        return super().resolve_command(ctx, args)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The commands with their short help; an entry-point command not imported yet is
        described by where it comes from (importing it for its help would slow every
        ``--help`` down by whatever it imports)."""
        limit = formatter.width - 6 - max((len(n) for n in self.list_commands(ctx)), default=0)
        rows: list[tuple[str, str]] = []
        for name in self.list_commands(ctx):
            command = self.commands.get(name) or self._loaded.get(name)
            if command is not None:
                if not command.hidden:
                    rows.append((name, command.get_short_help_str(limit)))
                continue
            origins = ", ".join(c.origin for c in self.provided()[name])
            rows.append((name, f"(from {origins})"))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def _load(provided: ProvidedCommand) -> click.Command:
    """Import the command object an entry point names; :class:`PluginError` (one line, with a
    hint) when it cannot be imported or is not a click command."""
    what = f"the command {provided.name!r} (from {provided.origin})"
    try:
        target = metadata.EntryPoint(provided.name, provided.value, "").load()
    except InterlockError as exc:
        raise PluginError(f"{what} cannot be loaded: {exc.message}", hint=exc.hint) from exc
    except ImportError as exc:
        raise PluginError(
            f"{what} cannot be imported: {exc}", hint=_install_hint(provided, exc)
        ) from exc
    except Exception as exc:  # a bug in the command's package: say where to see it
        module = provided.value.partition(":")[0].strip()
        raise PluginError(
            f"{what} cannot be imported: {type(exc).__name__}: {exc}",
            hint=f"python -c 'import {module}' shows the traceback; report it to the "
            f"maintainers of {provided.distribution or module}",
        ) from exc
    if not isinstance(target, click.Command):
        raise PluginError(
            f"{what}: {provided.value} is a {type(target).__name__}, not a click command",
            hint=f"report it to the maintainers of {provided.distribution or provided.value}",
        )
    return target


def _install_hint(provided: ProvidedCommand, error: ImportError) -> str:
    """How to get the module an ImportError says is missing: the extra of the command's
    distribution that requires it (``pip install 'acme[tools]'``), else a reinstall."""
    missing = (error.name or "").partition(".")[0]
    if provided.distribution is not None and missing:
        for extra in _extras_requiring(provided.distribution, missing):
            return f"pip install '{provided.distribution}[{extra}]'"
    if provided.distribution is not None:
        return f"reinstall {provided.distribution} with the extras that {provided.name!r} needs"
    return "install the package that provides the missing module"


def _extras_requiring(distribution: str, module: str) -> Sequence[str]:
    """The extras of ``distribution`` whose requirements include a package named like
    ``module`` (names compared as pip does: case, ``-``, ``_`` and ``.`` ignored)."""
    try:
        requirements = metadata.distribution(distribution).requires or []
    except metadata.PackageNotFoundError:
        return []
    wanted = _normalized(module)
    extras = []
    for requirement in requirements:
        name = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
        extra = re.search(r"extra\s*==\s*['\"]([^'\"]+)['\"]", requirement)
        if name and extra and _normalized(name.group(1)) == wanted and extra.group(1) not in extras:
            extras.append(extra.group(1))
    return extras


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()
