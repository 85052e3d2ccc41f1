"""Values typed as text (``flagkit eval -c attr=value``, the status page's form) read as data."""

from __future__ import annotations

import re
from typing import Any

__all__ = ["parse_value"]

_INT = re.compile(r"[-+]?[0-9]+\Z")
_FLOAT = re.compile(r"[-+]?([0-9]+\.[0-9]*|\.[0-9]+|[0-9]+)([eE][-+]?[0-9]+)?\Z")


def parse_value(text: str) -> Any:
    """Parse a ``-c attr=value`` value.

    ``true``/``false`` become booleans, integers and decimals become numbers, text in double or
    single quotes becomes the text inside (``'"3.10"'`` stays a string), anything else is a
    string as written.
    """
    if text in ("true", "false"):
        return text == "true"
    if _INT.match(text):
        return int(text)
    if _FLOAT.match(text):
        return float(text)
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    return text
