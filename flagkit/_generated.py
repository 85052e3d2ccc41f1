"""Code generated from flagkit's own templates (attrs' ``_make_*_script`` idiom).

Where a hot path must be specialised per shape (the client's four evaluation methods, fused
condition tests, one-rule flags), the specialisations are generated from ONE template instead
of being copied by hand. The template is flagkit's own text: names and operands from flag
files are never written into the source (they are arguments, closure variables or slots).
Each generated source is registered in :mod:`linecache` under its ``<flagkit generated ...>``
filename, so tracebacks, debuggers and ``inspect.getsource`` of a function show it.
"""

from __future__ import annotations

import linecache
from typing import Any

__all__ = ["generate"]


def generate(source: str, filename: str, namespace: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run ``source`` (a template of ours, filled in) and return the names it defines.

    ``namespace`` is the globals the generated code sees (empty by default); ``filename``
    names it in tracebacks (``<flagkit generated ...>``).
    """
    code = compile(source, filename, "exec")
    defined: dict[str, Any] = {}
    exec(code, namespace if namespace is not None else {}, defined)  # our own template (see above)
    linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
    return defined
