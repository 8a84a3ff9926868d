"""The interop matrix for people: ``matrix.md`` and the table ``interlock matrix`` prints."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from interlock_conformance.matrix.run import MatrixResult
    from interlock_conformance.matrix.cells import MatrixCell, MatrixSection

__all__ = ["cell_label", "matrix_markdown", "matrix_text"]


def cell_label(cell: MatrixCell) -> str:
    """``pass (n)``, ``FAIL <requirement>`` or ``n/a``."""
    if cell.status == "passed":
        return f"pass ({len(cell.checked)})"
    if cell.status == "failed":
        return f"FAIL {cell.failed_requirement}"
    return "n/a"


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _grid(section: MatrixSection) -> list[list[str]]:
    header = [f"{section.row_kind} \\ {section.column_kind}", *section.columns]
    rows = [header]
    for row in section.rows:
        rows.append([row, *(cell_label(section.cell(row, column)) for column in section.columns)])
    return rows


def _verdict(result: MatrixResult) -> str:
    failed = len(result.failed_cells())
    if result.passed:
        return "PASSED"
    parts = [f"{failed} failed cell(s)"] if failed else []
    if result.problems:
        parts.append(f"{len(result.problems)} plugin problem(s)")
    return "FAILED (" + ", ".join(parts) + ")"


def matrix_markdown(result: MatrixResult) -> str:
    """``matrix.md``: the verdict, one table per section, then why each cell failed or does
    not apply."""
    lines = [
        "# interlock interop matrix",
        "",
        f"**Verdict: {_verdict(result)}**",
        "",
        f"Spec v{result.spec_version}, interlock {result.suite_version}, "
        f"{result.environment.python}, {result.duration_s:.1f} s.",
        "",
        "| kind | component | plugin | version |",
        "|---|---|---|---|",
    ]
    for component in result.components:
        lines.append(
            f"| {component.kind} | {component.name} | {component.plugin or '-'} | "
            f"{component.version or '-'} |"
        )
    if result.problems:
        lines += ["", "## Problems", ""]
        lines += [f"- {_escape(problem)}" for problem in result.problems]
    for section in result.sections:
        grid = _grid(section)
        lines += ["", f"## {section.name} ({section.requirement})", "", section.title, ""]
        lines.append("| " + " | ".join(grid[0]) + " |")
        lines.append("|" + "---|" * len(grid[0]))
        lines += ["| " + " | ".join(row) + " |" for row in grid[1:]]
        notes = [c for c in section.cells if c.status != "passed"]
        if notes:
            lines.append("")
        for cell in notes:
            what = f"failed {cell.failed_requirement}" if cell.status == "failed" else "n/a"
            why = _escape(cell.message or "")
            lines.append(f"- **{cell.row} × {cell.column}** ({what}): {why}")
    return "\n".join(lines) + "\n"


def matrix_text(result: MatrixResult) -> str:
    """The matrix as aligned plain-text tables, with failure reasons, for a terminal."""
    lines: list[str] = []
    for problem in result.problems:
        lines.append(f"problem: {problem}")
    for section in result.sections:
        grid = _grid(section)
        widths = [max(len(row[i]) for row in grid) for i in range(len(grid[0]))]
        lines += ["", f"{section.name} ({section.requirement}): {section.title}"]
        for row in grid:
            lines.append("  " + "  ".join(text.ljust(width) for text, width in zip(row, widths)))
        for cell in section.failed():
            pair = f"{cell.row} x {cell.column}"
            lines.append(f"  FAILED {pair} {cell.failed_requirement}: {cell.message}")
    lines += ["", f"matrix: {_verdict(result)} in {result.duration_s:.1f} s"]
    return "\n".join(lines)
