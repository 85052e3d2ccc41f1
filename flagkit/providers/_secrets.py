"""Secrets of a provider's source, and how to keep them out of errors, logs and ``status()``.

A provider's URL may carry a password or tokens in its query, its headers an API key, a proxy
URL its own credentials. Every message a provider shows (an error reported to the client, a
log line, a ``repr``) goes through a :class:`Redactor` that knows every form of those
secrets; an exception about to be reported is checked whole by :func:`scrub`.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import urllib.parse
from collections.abc import Callable, Iterable, Mapping

from ..errors import ConfigError, ConfigIssue, SourceError
from ..errors import _mask_url as mask_url  # errors, the bottom layer, mask their own sources

__all__ = [
    "Redactor",
    "UrlCredentials",
    "check_headers",
    "check_url",
    "mask_url",
    "scrub",
    "split_credentials",
]

_TOKEN_CHARS = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
"""The characters of an HTTP header name (RFC 9110 ``token``)."""

_AUTH_SCHEMES = frozenset({"basic", "bearer", "token", "digest", "negotiate", "apikey", "key"})
"""Words of a header value that are not secret on their own (``Bearer`` in ``Bearer <token>``)."""

_MIN_SECRET = 4
"""Shorter pieces are not redacted on their own (they would mangle every message)."""


def check_headers(headers: Mapping[str, str]) -> None:
    """Refuse header names and values http.client would reject at the first request.

    The error names the header but never shows its value: a token read from a file with its
    trailing newline would otherwise surface in ``Invalid header value b'Bearer ...\\n'``.

    Raises:
        ValueError: A name is not an HTTP token, or a value is not a string, holds a line
            break or another control character, or a character outside Latin-1.
    """
    for name, value in headers.items():
        if not isinstance(name, str) or not name:
            raise ValueError("header names must be non-empty strings")
        bad = next((i for i, ch in enumerate(name) if ch not in _TOKEN_CHARS), None)
        if bad is not None:
            shown = name[:bad]  # the part before the first bad character: never a value
            raise ValueError(
                f"header name {shown!r}... is not a valid HTTP header name "
                f"(character {bad + 1} is not allowed; pass the value separately)"
            )
        if not isinstance(value, str):
            raise ValueError(f"header {name!r}: the value must be a string, not {type(value).__name__}")
        for index, ch in enumerate(value):
            code = ord(ch)
            if ch in "\r\n":
                raise ValueError(
                    f"header {name!r}: the value contains a line break (character {index + 1} of "
                    f"{len(value)}); a token read from a file keeps its trailing newline: strip() it"
                )
            if (code < 32 and ch != "\t") or code == 127:
                raise ValueError(
                    f"header {name!r}: the value contains a control character (character {index + 1})"
                )
            if code > 255:
                raise ValueError(
                    f"header {name!r}: the value contains a character outside Latin-1 (character {index + 1})"
                )


def check_url(url: str) -> None:
    """Refuse a URL holding whitespace or control characters (http.client would quote it,
    secrets included, in its error).

    Raises:
        ValueError: Naming the position, never the URL.
    """
    for index, ch in enumerate(url):
        if ord(ch) <= 32 or ord(ch) == 127:
            raise ValueError(
                f"the URL contains a space or control character (character {index + 1} of {len(url)}); "
                "percent-encode it"
            )


class Redactor:
    """Replaces every form of a set of secrets in a message with ``***``.

    For each secret it knows the plain text, its pieces (the words of ``Bearer <token>``, the
    lines of a multi-line value), the escaped forms a ``repr`` of a ``str`` or ``bytes`` or a
    JSON dump writes, and the percent-encoded forms (``+`` for spaces), matched in any case,
    so ``b'Bearer tok\\n'``, ``'tok\\n'`` and ``tok%2Fx`` are all caught.
    """

    def __init__(self, secrets: Iterable[str] | None = None, *, min_length: int = _MIN_SECRET) -> None:
        self._min = min_length
        """Shorter pieces are not redacted on their own (they would mangle every message)."""
        self._forms: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        for secret in secrets or ():
            self.add(secret)

    def add(self, secret: str) -> None:
        """Also redact ``secret`` (ignored when shorter than ``min_length``, default 4)."""
        pieces = {secret, secret.strip()}
        pieces.update(re.split(r"[\r\n]+", secret))
        pieces.update(word for word in secret.split() if word.lower() not in _AUTH_SCHEMES)
        for piece in pieces:
            if len(piece) < self._min:
                continue
            self._forms.update(_forms_of(piece))
        forms = sorted((f for f in self._forms if len(f) >= self._min), key=len, reverse=True)
        # Case-insensitive: percent-encoding may use either case of hex, a message may
        # upper- or lower-case what it quotes.
        self._pattern = re.compile("|".join(map(re.escape, forms)), re.IGNORECASE) if forms else None

    def __call__(self, text: str) -> str:
        """``text`` with every known form of every secret replaced by ``***``."""
        pattern = self._pattern
        return pattern.sub("***", text) if pattern is not None else text

    def __bool__(self) -> bool:
        return self._pattern is not None


def _forms_of(secret: str) -> set[str]:
    forms = {secret, repr(secret)[1:-1], json.dumps(secret)[1:-1]}
    forms.add(repr(secret.encode("utf-8", "backslashreplace"))[2:-1])
    with contextlib.suppress(UnicodeEncodeError):
        forms.add(repr(secret.encode("latin-1"))[2:-1])
    quote = urllib.parse.quote
    forms.update((quote(secret, safe=""), urllib.parse.quote_plus(secret), quote(secret)))
    return forms


class UrlCredentials:
    """A URL split from the credentials it carries.

    Attributes:
        url: The URL without its userinfo (``user:password@``).
        authorization: ``Basic <token>`` for the userinfo, or None when it had none.
        secrets: The password (raw and decoded), the Basic token and the query values (raw
            and decoded): what a :class:`Redactor` for this URL must know.
    """

    __slots__ = ("authorization", "secrets", "url")

    def __init__(self, url: str, authorization: str | None, secrets: set[str]) -> None:
        self.url, self.authorization, self.secrets = url, authorization, secrets


def split_credentials(url: str) -> UrlCredentials:
    """Take the userinfo out of ``url`` (as Basic credentials) and list its secrets."""
    parts = urllib.parse.urlsplit(url)
    secrets: set[str] = set()
    authorization = None
    if parts.username is not None or parts.password is not None:
        user = urllib.parse.unquote(parts.username or "")
        password = urllib.parse.unquote(parts.password or "")
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        authorization = f"Basic {token}"
        secrets.update(s for s in (password, token, parts.password) if s)
        host = parts.hostname or ""
        if ":" in host:  # an IPv6 literal keeps its brackets
            host = f"[{host}]"
        parts = parts._replace(netloc=host + (f":{parts.port}" if parts.port else ""))
    secrets.update(v for _, v in urllib.parse.parse_qsl(parts.query, keep_blank_values=True))
    raw_pairs = re.split(r"[&;]", parts.query)
    secrets.update(pair.split("=", 1)[1] for pair in raw_pairs if "=" in pair)  # still encoded
    return UrlCredentials(urllib.parse.urlunsplit(parts), authorization, secrets)


def scrub(error: BaseException, redact: Callable[[str], str], source: str) -> BaseException:
    """``error`` if no form of a secret shows in it (its text, repr, args or the exceptions it
    chains to), else a clean copy: a ``ConfigError`` with redacted issues, or a
    ``SourceError`` with the redacted message. The copy chains to nothing."""
    texts: list[str] = []
    link: BaseException | None = error
    while link is not None and len(texts) < 50:
        texts += [str(link), repr(link), *map(repr, link.args)]
        if isinstance(link, ConfigError):
            texts += [repr(issue) for issue in link.issues]
        link = link.__cause__ or link.__context__
    if all(redact(text) == text for text in texts):
        return error
    if isinstance(error, ConfigError):
        issues = [
            ConfigIssue(
                redact(issue.message),
                tuple(redact(part) if isinstance(part, str) else part for part in issue.path),
                issue.source,
                issue.line,
            )
            for issue in error.issues
        ]
        return ConfigError(issues, error.source)
    clean = SourceError(redact(str(error)))
    clean.source = source
    return clean
