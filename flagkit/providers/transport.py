"""The transport seam of :class:`~flagkit.providers.http.HttpProvider`: how one GET is made.

A transport is a plain class with one method, ``fetch(request) -> response``. The default,
:class:`~flagkit.providers.http.StdlibTransport`, uses the standard library only
(``http.client``, ``ssl``) and keeps flagkit's guarantees: an overall deadline, a body size
limit, certificate verification, redirects without leaking credentials, proxies from the
environment. Pass another one to use your own HTTP client (a company proxy library, a
service mesh sidecar, an in-memory source in tests). This module holds the plain types,
without ``http.client`` or ``ssl``::

    class CountingTransport(Transport):
        def __init__(self, inner: Transport) -> None:
            self.inner, self.calls = inner, 0

        def fetch(self, request: FetchRequest) -> FetchResponse:
            self.calls += 1
            return self.inner.fetch(request)

    HttpProvider(url, transport=CountingTransport(StdlibTransport()))

Whatever the transport, the provider applies what it can of the bounds to its answer: only
200 and 304 are accepted, a body over ``request.max_bytes`` is refused, an answer that came
after ``request.deadline`` is treated as a timeout, and any exception it raises becomes a
``SourceError`` with the provider's secrets masked (the last good flags stay).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["FetchRequest", "FetchResponse", "Transport"]


@dataclass(frozen=True, slots=True)
class FetchRequest:
    """One GET the provider wants made.

    Attributes:
        url: The URL to fetch, without credentials (they are in ``headers``).
        headers: Every request header: ``User-Agent``, ``Accept``, the conditional ones
            (``If-None-Match``, ``If-Modified-Since``), the provider's ``headers=`` and the
            ``Authorization`` made from credentials in the URL.
        timeout: Connect and per-read timeout, seconds.
        deadline: Longest time, seconds, the whole fetch may take (redirects included).
        max_bytes: Largest body the provider accepts.
        cancel: Set when the provider stops: a long fetch may end early.
        private_headers: Lower-case names of the headers that carry credentials: they must
            not be sent to another origin after a redirect.
    """

    url: str
    headers: Mapping[str, str]
    timeout: float
    deadline: float
    max_bytes: int
    cancel: threading.Event = field(default_factory=threading.Event)
    private_headers: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class FetchResponse:
    """What a transport got back.

    Attributes:
        status: The HTTP status (the provider accepts 200 and 304).
        body: The body (empty for 304).
        headers: Response headers; the provider reads ``ETag``, ``Last-Modified``, ``Date``
            and ``Content-Type`` (any case).
        url: The final URL after redirects, if the transport followed any.
        reason: The reason phrase, shown in the error for another status.
    """

    status: int
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    url: str | None = None
    reason: str = ""

    def header(self, name: str) -> str | None:
        """The value of header ``name`` (compared case-insensitively), or None."""
        value = self.headers.get(name)
        if value is not None:
            return value
        wanted = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == wanted), None)


class Transport:
    """Makes the GETs of an :class:`~flagkit.providers.http.HttpProvider`.

    Subclasses implement :meth:`fetch`. It is called from the provider's polling thread, one
    fetch at a time; it may raise any exception for a failure (the provider reports it with
    secrets masked and retries with backoff).
    """

    def fetch(self, request: FetchRequest) -> FetchResponse:
        """Make the GET described by ``request`` and return the response."""
        raise NotImplementedError

    def abort(self) -> None:
        """Optional: break the fetches in progress whose ``request.cancel`` is set.

        Called from another thread by a provider's ``stop()``, right after it set its
        ``request.cancel``; a transport shared by several providers must leave the others'
        fetches alone. The default does nothing (the fetch ends when ``fetch`` returns).
        """
