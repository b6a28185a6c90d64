"""Markdown for the generated docs: one table writer, used by docs, cost and bench alike (they depend on it,
not on each other)."""

from __future__ import annotations

from collections.abc import Iterable


def markdown_table(header: Iterable[str], rows: Iterable[Iterable[str]]) -> str:
    """A GitHub Markdown table; a `|` inside a cell is escaped."""
    head = list(header)
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"
