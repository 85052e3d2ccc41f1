"""The provider protocol: how flag definitions reach the client.

A provider supplies *definitions*, never values: it produces a compiled
:class:`~flagkit.FlagSet` (or an error) and reports it to the client, which merges the
providers, swaps the snapshot and tells listeners. Evaluation happens in one place whatever
the source.

A custom provider needs only this::

    class KeyValueProvider(flagkit.Provider):
        def __init__(self, client, key="flags"):
            super().__init__(name=f"kv:{key}")
            self.client, self.key = client, key

        def start(self, report):
            try:
                report(flagkit.FlagSet.from_bytes(self.client.get(self.key), source=self.name))
            except Exception as exc:   # keep the last good flags; the client records it
                report(exc)
"""

from __future__ import annotations

from collections.abc import Callable

from ..flagset import FlagSet

__all__ = ["Provider", "Report"]

Report = Callable[[FlagSet | BaseException], None]
"""Called by a provider with a new FlagSet, or with the error that stopped one loading."""


class Provider:
    """Base class of flag providers.

    Subclasses implement :meth:`start`; those with threads also implement :meth:`stop`.
    Rules: ``start`` must not block on the network (start a thread for that); call ``report``
    with each new :class:`FlagSet` and with each error (the client keeps the last good
    flags); threads are daemons named ``flagkit-*``.
    """

    fresh_at: float | None = None
    """Unix time of the provider's last successful check of its source: a check that found
    the flags it serves to be the source's current ones (a poll answered 304, an unchanged
    file or version label) or loaded new ones. Set by the built-in providers after every such
    check; ``Flags.status()`` reports it as ``fresh_at`` (the last load when it is ``None``)."""

    def __init__(self, name: str | None = None) -> None:
        self.name = name or type(self).__name__

    def start(self, report: Report) -> None:
        """Begin delivering flags; call ``report`` now or later from a thread."""
        raise NotImplementedError

    def stop(self) -> None:
        """Stop background work. Must be idempotent and return promptly."""

    def failure(self) -> str | None:
        """Why the provider's background work ended unexpectedly (its thread died), or None.

        The client asks from :meth:`Flags.status` and its other supervision points, reports
        the reason (state ``error``) and restarts the provider with ``stop()`` and
        ``start()``. Providers without threads keep the default.
        """
        return None

    def launch(self) -> None:
        """Start background work that :meth:`start` left for later; idempotent.

        The client calls it on its first use in a process (an evaluation, ``wait_ready()``,
        ``status()``...), so that nothing runs in a pre-fork server's master. flagkit's own
        providers start their threads here; the default does nothing.
        """

    def after_fork(self, report: Report) -> None:
        """Called in a forked child process: restart background threads.

        The default stops and starts again; threads do not survive ``fork()``.
        """
        self.stop()
        self.start(report)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"
