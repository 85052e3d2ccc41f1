"""Bootstrap data for a front end: the values of client-visible flags, safe to embed in HTML.

Only flags marked ``client: true`` in the file are included, so nothing else reaches a
browser. A flag serving ``code_default`` is left out, silently: the front end's own default
is what it says to serve (as ``Flags.all_values`` leaves it out). Values that are not plain
JSON (``NaN``, ``Infinity``: only an override can hold them) leave the flag out rather than
produce JSON a browser cannot parse; the client logs that once per flag. :func:`script_tag`
embeds the data the way Django's ``json_script`` does: inside ``<script
type="application/json">`` with ``<``, ``>`` and ``&`` escaped, so a value can never close the
script element.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Mapping
from typing import Any

from ._engine.compiler import CompiledFlag, Resolver
from .evaluation import CODE_DEFAULT
from .jsonsafe import is_json_safe

__all__ = ["ELEMENT_ID", "bootstrap_values", "escape_json", "script_tag"]

ELEMENT_ID = "flagkit-bootstrap"
"""The default ``id`` of the ``<script>`` element (read it with ``JSON.parse(el.textContent)``)."""

_ESCAPES = {
    ord("<"): "\\u003C",
    ord(">"): "\\u003E",
    ord("&"): "\\u0026",
    0x2028: "\\u2028",
    0x2029: "\\u2029",
}


def bootstrap_values(
    table: Mapping[str, Resolver],
    flags: Mapping[str, CompiledFlag],
    definitions: Mapping[str, CompiledFlag],
    ctx: Mapping[str, Any],
    not_json: Callable[[str], None] | None = None,
) -> dict[str, dict[str, Any]]:
    """``{key: {"value", "variant"}}`` for the client-visible flags, evaluated for ``ctx``.

    Args:
        table: The snapshot's resolvers.
        flags: The snapshot's flags (overrides included).
        definitions: The providers' flags, whose ``client`` marks decide (an override of a
            client flag stays client-visible; an override of another flag does not).
        ctx: The evaluation context.
        not_json: Told the key of a flag left out because its value is not plain JSON (the
            client logs it once per key).
    """
    out: dict[str, dict[str, Any]] = {}
    for key in sorted(flags):
        source = definitions.get(key, flags[key])
        if source.spec is None or not source.spec.client:
            continue
        try:
            value, variant, _, _ = table[key](ctx, table)
        except Exception:  # a context that is not a mapping, or a broken custom resolver
            continue
        if value is CODE_DEFAULT:  # the front end's own default: left out, as the flag says
            continue
        if not is_json_safe(value):
            if not_json is not None:
                not_json(key)
            continue
        out[key] = {"value": value, "variant": variant}
    return out


def escape_json(data: Any) -> str:
    """Compact JSON (``allow_nan=False``) with ``<``, ``>``, ``&``, U+2028/9 escaped for HTML."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False).translate(_ESCAPES)


def script_tag(data: Any, element_id: str = ELEMENT_ID) -> str:
    """``<script type="application/json" id="...">…</script>`` holding ``data`` (HTML-safe)."""
    return f'<script type="application/json" id="{html.escape(element_id)}">{escape_json(data)}</script>'
