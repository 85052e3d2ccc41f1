"""What HttpProvider asks of its transport, and what it accepts back.

The provider side of the transport seam: the URL split from its credentials, the request
headers, the secrets to mask; and the bounds applied to whatever a transport returns (status,
size, deadline, types), so a custom transport cannot bypass them.
"""

from __future__ import annotations

import threading
import time
import urllib.parse
from collections.abc import Mapping

from ..errors import SourceError
from ._secrets import Redactor, check_headers, check_url, mask_url, split_credentials
from .transport import FetchRequest, FetchResponse

__all__ = ["Target", "merge_headers"]

_USER_AGENT = "flagkit"
_ACCEPT = "application/json, application/yaml, */*"


class Target:
    """The URL an HttpProvider polls, with its headers and secrets.

    Args:
        url: ``http://`` or ``https://`` URL (credentials in it become Basic auth).
        headers: Extra request headers; their values are treated as secrets.

    Raises:
        ValueError: Not an http(s) URL, or a header no HTTP client would send.
    """

    def __init__(self, url: str, headers: Mapping[str, str] | None) -> None:
        check_url(url)
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"expected an http:// or https:// URL, got {mask_url(url)!r}")
        check_headers(headers or {})
        self.headers = merge_headers({}, headers or {})
        """The extra request headers, one entry per name whatever its case (the last wins)."""
        credentials = split_credentials(url)
        secrets = set(self.headers.values()) | credentials.secrets
        if credentials.authorization is not None:
            # An explicit header (in any case) wins over the URL's credentials.
            self.headers = merge_headers({"Authorization": credentials.authorization}, self.headers)
        self.redact = Redactor(secrets)
        """Replaces every form of every secret in a message with ``***``."""
        self.url = credentials.url
        """The URL without its userinfo (kept private: its query may hold tokens)."""
        self.masked_url = mask_url(url)
        self._private = frozenset(name.lower() for name in self.headers)

    def request(
        self,
        *,
        etag: str | None,
        last_modified: str | None,
        timeout: float,
        deadline: float,
        max_bytes: int,
        cancel: threading.Event,
    ) -> FetchRequest:
        """The GET for one poll, conditional on the validators given."""
        ours = {"User-Agent": _USER_AGENT, "Accept": _ACCEPT}
        if etag:
            ours["If-None-Match"] = etag
        if last_modified:
            ours["If-Modified-Since"] = last_modified
        return FetchRequest(
            url=self.url,
            headers=merge_headers(ours, self.headers),  # the caller's headers win, any case
            timeout=timeout,
            deadline=deadline,
            max_bytes=max_bytes,
            cancel=cancel,
            private_headers=self._private,
        )

    def accept(self, request: FetchRequest, response: object, started: float) -> FetchResponse:
        """``response`` if it is within the bounds of ``request``, else the SourceError.

        ``started`` is the ``time.monotonic()`` at which the fetch began.

        Raises:
            SourceError: Not a FetchResponse, a status other than 200 or 304, a body over
                ``max_bytes``, or an answer that came after the deadline.
        """
        if not isinstance(response, FetchResponse) or not isinstance(response.body, bytes | bytearray):
            raise SourceError(
                f"the transport returned {type(response).__name__}, not a FetchResponse with bytes"
            )
        where = mask_url(response.url) if response.url else self.masked_url
        if time.monotonic() - started > request.deadline:
            raise SourceError(f"fetch took longer than the {request.deadline:g}s deadline", where)
        if response.status not in (200, 304):
            raise SourceError(f"HTTP {response.status} {response.reason}".rstrip(), where)
        if len(response.body) > request.max_bytes:
            raise SourceError(f"body is over the limit of {request.max_bytes:,} bytes", where)
        return response


def merge_headers(base: Mapping[str, str], extra: Mapping[str, str]) -> dict[str, str]:
    """``base`` updated with ``extra``, header names compared case-insensitively.

    HTTP header names are case-insensitive: ``{"authorization": ...}`` replaces a default
    ``Authorization`` instead of sending both. Within ``extra`` the last spelling wins.
    """
    merged: dict[str, tuple[str, str]] = {}
    for source in (base, extra):
        for name, value in source.items():
            merged[name.lower()] = (name, value)
    return dict(merged.values())
