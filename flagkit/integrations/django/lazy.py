"""``groups`` in the default request context: the user's group names, queried only when a
condition reads them, so a request whose flags never look at groups makes no group query."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from typing import Any, SupportsIndex, overload

__all__ = ["LazyGroups"]

logger = logging.getLogger("flagkit")


class LazyGroups(list[str]):
    """A list of group names that runs its query on first read.

    It is a real ``list`` (conditions such as ``groups: {contains: beta}`` and
    ``any_element`` accept it) whose reading methods load the names once. On an event loop
    (an async view under ASGI), where Django forbids queries, the query runs in a short-lived
    worker thread while the caller waits. A failing query is logged and reads as no groups.
    """

    __slots__ = ("_loaded", "_lock", "_user")

    def __init__(self, user: Any) -> None:
        super().__init__()
        self._user = user
        self._loaded = False
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        """True once the query ran (for tests and debugging)."""
        return self._loaded

    def _load(self) -> None:
        if self._loaded:
            return
        with self._lock:
            if self._loaded:
                return
            list.extend(self, _group_names(self._user))
            self._loaded = True

    def __iter__(self) -> Iterator[str]:
        self._load()
        return list.__iter__(self)

    def __contains__(self, item: object) -> bool:
        self._load()
        return list.__contains__(self, item)

    def __len__(self) -> int:
        self._load()
        return list.__len__(self)

    @overload
    def __getitem__(self, index: SupportsIndex) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> list[str]: ...

    def __getitem__(self, index: SupportsIndex | slice) -> str | list[str]:
        self._load()
        return list.__getitem__(self, index)

    def __eq__(self, other: object) -> bool:
        self._load()
        return list.__eq__(self, other)

    def __repr__(self) -> str:
        return list.__repr__(self) if self._loaded else "LazyGroups(<not loaded>)"


def _group_names(user: Any) -> list[str]:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return _query(user)
    # On an event loop: Django raises SynchronousOnlyOperation for a query here.
    result: list[list[str]] = []

    def run() -> None:
        from django.db import connections

        try:
            result.append(_query(user))
        finally:
            connections.close_all()  # this thread's connections only

    # Not a _workers.Worker, on purpose: a one-shot call its caller joins (the thread lives
    # exactly as long as the query the caller waits for), so there is no owner to hold
    # weakly, nothing to stop and nothing to restart after a fork; and a Worker retries a
    # step that raises, where a query must run once.
    thread = threading.Thread(target=run, name="flagkit-groups", daemon=True)
    thread.start()
    thread.join()
    return result[0] if result else []


def _query(user: Any) -> list[str]:
    try:
        return [str(name) for name in user.groups.values_list("name", flat=True)]
    except Exception:
        logger.exception("flagkit: reading the user's groups failed; the context has none")
        return []
