"""Exceptions raised by flagkit.

The tree::

    FlagkitError                     base of everything flagkit raises
    ├── ConfigError                  a flag definition is invalid (carries every ConfigIssue found)
    ├── SourceError                  a provider could not read its source (I/O, HTTP status, size limit)
    └── FlagNotFoundError            strict mode only: an unknown flag key was evaluated

Evaluation never raises these into application code except :class:`FlagNotFoundError`
in ``Flags(strict=True)``; problems found while evaluating become an
:class:`~flagkit.Evaluation` with reason ``ERROR`` and an error code instead.
Misuse of the API (wrong argument types) raises the plain built-ins.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["ConfigError", "ConfigIssue", "FlagNotFoundError", "FlagkitError", "SourceError"]


class FlagkitError(Exception):
    """Base class of every exception flagkit raises."""


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    """One problem in a flag definition, with where it is.

    Attributes:
        message: What is wrong, in words.
        path: Path to the bad field inside the document, e.g. ``("features", "x", "rules", 0)``.
        source: The file name, URL or other label of the document (``None`` if unknown).
        line: 1-based line number in the source where the format gives one.
        column: 1-based column, for syntax errors (``None`` otherwise).
    """

    message: str
    path: tuple[str | int, ...] = ()
    source: str | None = None
    line: int | None = None
    column: int | None = None

    def __post_init__(self) -> None:  # never a URL's credentials (frozen: set through object)
        if self.source is not None and "://" in self.source:
            object.__setattr__(self, "source", _mask_url(self.source))
        if "@" in self.message:
            object.__setattr__(self, "message", _mask_userinfo(self.message))

    @property
    def flag(self) -> str | None:
        """The flag key the issue is about, if it is inside ``features``."""
        return flag_of(self.path)

    @property
    def location(self) -> str:
        """``source:line[:column]`` (or just the source) for error messages."""
        where = format_location(self.source, self.line)
        return f"{where}:{self.column}" if self.line is not None and self.column is not None else where

    def __str__(self) -> str:
        field = format_path(self.path)
        return f"{self.location}: {field}: {self.message}" if field else f"{self.location}: {self.message}"


def did_you_mean(word: object, candidates: Iterable[str]) -> str:
    """``"; did you mean 'green'?"`` for the closest of ``candidates`` to a mistyped ``word``,
    or ``""`` when none is close."""
    if not isinstance(word, str):
        return ""
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def flag_of(path: tuple[str | int, ...]) -> str | None:
    """The flag key a document path is about (``("features", key, ...)``), if any."""
    if len(path) >= 2 and path[0] == "features":
        return str(path[1])
    return None


def format_location(source: str | None, line: int | None) -> str:
    """``source:line``, or just the source when the line is unknown."""
    where = source or "<flags>"
    return f"{where}:{line}" if line is not None else where


def format_path(path: tuple[str | int, ...]) -> str:
    """Render a document path as ``features.x.rules[0].serve``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


class ConfigError(FlagkitError):
    """A flag document is invalid; the whole document is rejected.

    Attributes:
        issues: Every problem found, each with its source, line and field path.
        source: The file name or URL of the document.
    """

    def __init__(self, issues: list[ConfigIssue] | ConfigIssue | str, source: str | None = None) -> None:
        if isinstance(issues, str):
            issues = [ConfigIssue(issues, source=source)]
        elif isinstance(issues, ConfigIssue):
            issues = [issues]
        self.issues: tuple[ConfigIssue, ...] = tuple(issues)
        if source is not None:
            source = _mask_source(source)
        self.source = source if source is not None else (self.issues[0].source if self.issues else None)
        super().__init__(self._render())

    def _render(self) -> str:
        if len(self.issues) == 1:
            return str(self.issues[0])
        lines = [f"{len(self.issues)} problems in {self.source or '<flags>'}:"]
        lines.extend(f"  {issue}" for issue in self.issues)
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"ConfigError(source={self.source!r}, issues={len(self.issues)})"


class SourceError(FlagkitError):
    """A provider could not obtain its document (missing file, HTTP error, size limit...).

    Attributes:
        source: The file name or URL (credentials masked).

    The error masks secrets itself: a URL ``source`` loses its password and query values
    (``https://user:***@host/x``), and any URL in ``message`` its password (so do
    :class:`ConfigError` and :class:`ConfigIssue`).
    """

    def __init__(self, message: str, source: str | None = None) -> None:
        if source is not None:
            source = _mask_source(source)
        self.source = source
        message = _mask_userinfo(message)
        super().__init__(f"{source}: {message}" if source else message)


class FlagNotFoundError(FlagkitError, KeyError):
    """Raised in strict mode when an unknown flag key is evaluated."""

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(key)

    def __str__(self) -> str:
        return f"flag {self.key!r} is not defined"


# --- masking: errors never carry credentials (the bottom layer, so every layer's errors do) ---

_AUTHORITY = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<authority>[^/?#\s]*@[^/?#\s]*)")


def _mask_authority(match: re.Match[str]) -> str:
    userinfo, host = match["authority"].rsplit("@", 1)
    user = userinfo.split(":", 1)[0]
    return f"{match['scheme']}{user}:***@{host}" if ":" in userinfo else f"{match['scheme']}***@{host}"


def _mask_userinfo(text: str) -> str:
    """``text`` with the userinfo of every URL in it masked: ``user:***@`` (a password), or
    ``***@`` (a user name alone, often a token)."""
    return _AUTHORITY.sub(_mask_authority, text) if "@" in text else text


def _mask_source(source: str) -> str:
    """A file name as it is; a URL masked (:func:`_mask_url`)."""
    return _mask_url(source) if "://" in source else source


def _mask_url(url: str) -> str:
    """The URL with its password and query values replaced by ``***`` (safe to log).

    ``flagkit.providers._secrets.mask_url`` is this function."""
    import urllib.parse  # an error's path only: import flagkit does not need it

    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return "<invalid url>"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:***@{host}" if ":" in userinfo else f"***@{host}"
    query = parts.query
    if query:
        pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
        query = "&".join(f"{urllib.parse.quote(k)}=***" for k, _ in pairs) or "***"
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, query, ""))
