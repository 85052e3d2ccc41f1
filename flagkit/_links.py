"""Where the documentation lives, for messages and ``--help`` (a pip user has no docs/ folder)."""

from __future__ import annotations

DOCS_URL = "https://github.com/flagkit/flagkit/blob/main/docs"
"""The published docs/ folder; the same as ``Documentation`` in the package's Project-URLs."""


def doc_url(page: str, anchor: str | None = None) -> str:
    """The URL of a docs page (``"cli"`` → ``.../docs/cli.md``), with an optional anchor."""
    return f"{DOCS_URL}/{page}.md" + (f"#{anchor}" if anchor else "")
