"""Conditional GETs: which validators of a response may be sent with the next request."""

from __future__ import annotations

import datetime
import email.utils

from .transport import FetchResponse

__all__ = ["validators_are_strong"]


def validators_are_strong(response: FetchResponse) -> bool:
    """Whether the validators of a 200 response tell apart every later change of the document.

    ``Last-Modified`` has a resolution of one second, and servers build ETags from it (nginx:
    mtime and size). A document changed again within the second of its ``Last-Modified``
    keeps both, so a conditional request would get 304 for it forever. RFC 9110 §8.8.2.2: a
    ``Last-Modified`` is a strong validator only when it is at least one second before the
    response's ``Date`` (a later change then falls in a later second). Without
    ``Last-Modified`` only the ETag is left, taken as strong (a content hash); an unreadable
    or missing ``Date`` next to a ``Last-Modified`` makes them weak.
    """
    last_modified = response.header("Last-Modified")
    if last_modified is None:
        return True
    modified = _http_time(last_modified)
    made = _http_time(response.header("Date"))
    return modified is not None and made is not None and made - modified >= 1.0


def _http_time(value: str | None) -> float | None:
    """The Unix time of an HTTP date, or None when it is missing or unreadable."""
    if not value:
        return None
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:  # RFC 9110 dates are GMT; an obsolete form may lack the zone
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.timestamp()
