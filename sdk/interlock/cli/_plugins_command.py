"""``interlock plugins``: the installed plugins, their components and capabilities."""

from __future__ import annotations

import click

import interlock
from interlock.cli._options import emit_json

__all__ = ["plugins_command"]


@click.command("plugins")
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

        emit_json({"plugins": [i.to_dict() for i in infos], "conflicts": conflicts,
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
