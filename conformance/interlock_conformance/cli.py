"""The conformance suite's commands of the ``interlock`` command line: ``certify`` and ``matrix``.

They reach the command line through the ``interlock.commands`` entry-point group, which this
distribution registers (``certify = "interlock_conformance.cli:certify_command"``); the core
imports this module only when one of them runs. Like every command, each is a thin shell over
a public function (:func:`interlock_conformance.certify`,
:func:`interlock_conformance.certify_server`,
:func:`interlock_conformance.openai.certify_openai_server`,
:func:`interlock_conformance.matrix.run_matrix`).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

import click

from interlock.cli import check_output_directory

if TYPE_CHECKING:
    from interlock_conformance.report import Report

__all__ = ["certify_command", "matrix_command"]

_OIP_PROFILES = ("oip-core", "binary-data", "interlock-serving")
_OPENAI_PROFILES = ("openai-core", "interlock-text")


@click.command("certify")
@click.argument("plugin", required=False)
@click.option("--output", "output_dir", default="interlock-certification", show_default=True,
              callback=check_output_directory,
              help="Directory for report.json, junit.xml and summary.md.")
@click.option("--server", "server_url", default=None, metavar="URL",
              help="Certify the Open Inference Protocol REST server at URL instead of a plugin.")
@click.option("--grpc", "grpc_address", default=None, metavar="HOST:PORT",
              help="Certify the Open Inference Protocol gRPC server at HOST:PORT.")
@click.option("--openai", "openai_url", default=None, metavar="URL",
              help="Certify the OpenAI-compatible server at URL (without /v1) against "
              "openai.md instead.")
@click.option("--model", "models", multiple=True, metavar="NAME",
              help="A model the server serves, to check (repeatable; with --server/--grpc/"
              "--openai).")
@click.option("--token", envvar="INTERLOCK_TOKEN", default=None,
              help="Bearer token the server requires (or $INTERLOCK_TOKEN; with --server/"
              "--grpc/--openai).")
@click.option("--profile", "profiles", multiple=True, metavar="NAME",
              type=click.Choice([*_OIP_PROFILES, *_OPENAI_PROFILES]),
              help="Also hold the server to this profile (repeatable): of serving.md with "
              "--server/--grpc, where interlock-serving is otherwise advice; of openai.md with "
              "--openai, where interlock-text is otherwise advice.")
@click.option("--json", "as_json", is_flag=True, help="Print report.json on stdout.")
def certify_command(
    plugin: str | None,
    output_dir: str,
    server_url: str | None,
    grpc_address: str | None,
    openai_url: str | None,
    models: tuple[str, ...],
    token: str | None,
    profiles: tuple[str, ...],
    as_json: bool,
) -> None:
    """Certify an installed plugin (by its entry-point name), or a running server (by its
    address: --server URL and/or --grpc HOST:PORT, or --openai URL), against spec v1.

    An Open Inference Protocol server is certified at the oip-core profile and the extensions
    it declares; without --model its models are discovered from the repository index. An
    OpenAI-compatible server is certified at openai-core; without --model its models are
    discovered by GET /v1/models. Exits 0 only when every requirement it is held to passes.
    """
    by_address = server_url is not None or grpc_address is not None
    if openai_url is not None and (by_address or plugin is not None):
        raise click.UsageError("--openai URL certifies one OpenAI-compatible server: give it "
                               "without a PLUGIN, --server or --grpc")
    if openai_url is not None:
        _certify_openai(openai_url, output_dir, models, token, profiles, as_json)
        return
    if by_address == (plugin is not None):
        raise click.UsageError(
            "name a PLUGIN, or give --server URL and/or --grpc HOST:PORT, or --openai URL "
            "(not both)"
        )
    token_given = click.get_current_context().get_parameter_source("token")
    if not by_address and (models or profiles
                           or token_given == click.core.ParameterSource.COMMANDLINE):
        raise click.UsageError("--model, --token and --profile only apply with --server, "
                               "--grpc or --openai")
    wrong = sorted(set(profiles) & set(_OPENAI_PROFILES))
    if wrong:
        raise click.UsageError(f"--profile {wrong[0]} is a profile of openai.md: it applies "
                               f"with --openai; with --server/--grpc: "
                               f"{', '.join(_OIP_PROFILES)}")
    if by_address:
        from interlock_conformance.oip import certify_server

        report = certify_server(output_dir, server_url, grpc_address, model=list(models),
                                token=token, profiles=profiles)
        _say_server(report)
        subject = report.plugin.name
    else:
        from interlock_conformance import certify

        assert plugin is not None
        report = certify(plugin, output_dir)  # MissingDependencyError without pytest
        subject = plugin
    _conclude(report, subject, output_dir, as_json)


def _conclude(report: Report, subject: str, output_dir: str, as_json: bool) -> None:
    """The report on stdout with --json, the verdict on the last line; exit 1 unless
    certified."""
    if as_json:
        click.echo(report.model_dump_json(indent=2))
    verdict: str = report.verdict
    if report.error and report.error.startswith("not certified"):  # no model to test
        verdict, _, why = report.error.partition("; ")
        click.echo(why, err=True)
    click.echo(f"{verdict}: {subject} (reports in {output_dir})", err=as_json)
    if report.verdict != "certified":
        sys.exit(1)


def _certify_openai(url: str, output_dir: str, models: tuple[str, ...], token: str | None,
                    profiles: tuple[str, ...], as_json: bool) -> None:
    """``certify --openai URL``: :func:`interlock_conformance.openai.certify_openai_server`."""
    wrong = sorted(set(profiles) - set(_OPENAI_PROFILES))
    if wrong:
        raise click.UsageError(f"--profile {wrong[0]} is a profile of serving.md: with --openai "
                               f"the profiles are {', '.join(_OPENAI_PROFILES)}")
    from interlock_conformance.openai import certify_openai_server
    from interlock_conformance.openai.profiles import profile_of

    report = certify_openai_server(output_dir, url, model=list(models), token=token,
                                   profiles=profiles)
    _say_server(report, profile_of)
    _conclude(report, report.plugin.name, output_dir, as_json)


def _say_server(report: Report, profile_of: Callable[[str], str] | None = None) -> None:
    """Each failure of a profile the verdict rests on, then one line per profile (stderr);
    ``profile_of`` tells a requirement's profile (serving.md's by default)."""
    if profile_of is None:
        from interlock_conformance.oip import profiles

        profile_of = profiles.profile_of
    verdict_profiles = {p.name for p in report.profiles if p.role == "verdict"}
    told = set()
    for result in report.failed():
        profile = profile_of(result.id)
        word = "FAILED" if profile in verdict_profiles else "ADVICE"
        for failure in result.failures:
            told.add(failure.case)
            click.echo(f"{word} [{profile}] {result.id} {failure.case}: {failure.message}",
                       err=True)
    for case in report.cases:  # a stricter check of a requirement its profile judges alone
        if case.outcome == "failed" and case.id not in told:
            word = "FAILED" if case.profile in verdict_profiles else "ADVICE"
            click.echo(f"{word} [{case.profile}] {case.id}: {case.message}", err=True)
    for summary in report.profiles:
        untested = sum(len(ids) for ids in summary.not_tested.values()) + len(summary.blocked)
        click.echo(f"{summary.name} ({summary.role}): {summary.status}, {summary.passed} "
                   f"passed, {summary.failed} failed, {untested} not tested", err=True)


@click.command("matrix")
@click.option("--output", "output_dir", default="interlock-matrix", show_default=True,
              callback=check_output_directory,
              help="Directory for matrix.json and matrix.md.")
@click.option("--section", "sections", multiple=True, metavar="NAME",
              help="Run only this section (repeatable): datasets, stores, runtimes, exporters, "
              "servers, executors.")
@click.option("--json", "as_json", is_flag=True, help="Print matrix.json instead of the tables.")
def matrix_command(output_dir: str, sections: tuple[str, ...], as_json: bool) -> None:
    """Check every installed component with every other and print the interop matrix.

    Exits 0 only when every cell passes and every installed plugin loaded.
    """
    from interlock_conformance.matrix import matrix_text, run_matrix

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

