"""Directory watching for FileProvider: a thin layer over a watchdog observer.

The watcher watches the *directories* that hold the flag file (the path's parent, and the
directory of the symlink target when that lies elsewhere), never the file's inode: editors
and ``sed -i`` replace the inode on save, and Kubernetes swaps a ``..data`` symlink.
Each event is classified relative to the watched file and handed to a callback; the provider
decides what to read and when.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator

from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver

__all__ = ["COMPLETE", "CREATED", "GONE", "OTHER", "WRITING", "DirectoryWatcher"]

logger = logging.getLogger("flagkit")

# Event kinds, as bit flags (the provider ORs together what arrived during a debounce).
COMPLETE = 1
"""The file was closed after writing, or a file was renamed onto it: its content is final."""
WRITING = 2
"""The file was modified and not yet closed: a write is in progress."""
CREATED = 4
"""The file was created (possibly empty so far)."""
GONE = 8
"""The file was deleted or renamed away (an editor may be about to put a new one in place)."""
OTHER = 16
"""Something else changed in a watched directory (e.g. the k8s ``..data`` symlink swap)."""

# Opened and closed-without-writing events are left out on purpose: the provider's own reads
# would otherwise wake it up again.
_EVENT_FILTER: list[type[FileSystemEvent]] = [
    FileCreatedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileDeletedEvent,
    FileClosedEvent,
    DirCreatedEvent,
    DirMovedEvent,
    DirDeletedEvent,
]

try:  # pragma: no cover - which branch runs depends on the platform
    from watchdog.observers.inotify import InotifyObserver as _Inotify

    _CLOSE_EVENT_OBSERVERS: tuple[type[BaseObserver], ...] = (_Inotify,)
except Exception:  # pragma: no cover - not Linux
    _CLOSE_EVENT_OBSERVERS = ()


def _text(path: bytes | str) -> str:
    return os.path.normpath(os.fsdecode(path)) if path else ""


_LOCK_WAIT = 5.0
"""Seconds to wait for the watcher's lock; it is held only while an observer starts or stops."""


class _Handler(FileSystemEventHandler):
    def __init__(self, targets: frozenset[str], callback: Callable[[int], None]) -> None:
        self.targets = targets
        self.callback = callback

    def dispatch(self, event: FileSystemEvent) -> None:
        # Runs on watchdog's emitter thread: nothing may escape (it would end the observer).
        try:
            kind = self._classify(event)
        except Exception:
            logger.debug("flagkit: cannot classify the file event %r", event, exc_info=True)
            kind = CREATED  # unknown: make the provider read the file
        try:
            self.callback(kind)
        except Exception:
            logger.exception("flagkit: handling a file event failed")

    def _classify(self, event: FileSystemEvent) -> int:
        src = _text(event.src_path)
        dest = _text(event.dest_path)
        kind = event.event_type
        if dest and dest in self.targets:
            return COMPLETE
        if src in self.targets:
            if kind == "closed":
                return COMPLETE
            if kind == "modified":
                return WRITING
            if kind == "created":
                return CREATED
            if kind in ("deleted", "moved"):
                return GONE
        return OTHER


def watch_dirs(path: str) -> tuple[frozenset[str], frozenset[str]]:
    """The directories to watch for ``path`` and the file paths that count as "the file".

    The parent directory always; plus the directory of the symlink target when it lies
    outside the parent (Kubernetes targets live *inside* it, under ``..data``).
    """
    parent = os.path.dirname(path)
    real = os.path.realpath(path)
    real_parent = os.path.dirname(real)
    dirs = {parent}
    targets = {os.path.normpath(path), os.path.normpath(real)}
    inside = real_parent == parent or real_parent.startswith(parent.rstrip(os.sep) + os.sep)
    if not inside:
        dirs.add(real_parent)
    return frozenset(dirs), frozenset(targets)


class DirectoryWatcher:
    """A watchdog observer over a few directories, reporting classified events.

    Args:
        name: Suffix for thread names (``flagkit-watch-<name>``).
        callback: Called from the observer's thread with an event kind (bit flag).
    """

    def __init__(self, name: str, callback: Callable[[int], None]) -> None:
        self.name = name
        self.callback = callback
        self.observer: BaseObserver | None = None
        self.dirs: frozenset[str] = frozenset()
        self.close_events = False
        self._lock = threading.Lock()
        self._closed = False
        self._handler: _Handler | None = None

    def alive(self) -> bool:
        """True while the observer and its emitter threads are running."""
        observer = self.observer
        if observer is None or not observer.is_alive():
            return False
        return all(emitter.is_alive() for emitter in observer.emitters)

    def ensure(self, dirs: Iterable[str], targets: frozenset[str]) -> bool:
        """(Re)start the observer on ``dirs`` if it is not running there. True when watching.

        Raises:
            OSError: The observer could not be created or a directory could not be
                watched (missing directory, inotify limits...): the caller polls instead.
        """
        if not self._lock.acquire(timeout=_LOCK_WAIT):
            raise OSError("the file watcher is busy (a thread holding it died?): polling instead")
        try:
            return self._ensure(dirs, targets)
        finally:
            self._lock.release()

    def _ensure(self, dirs: Iterable[str], targets: frozenset[str]) -> bool:
        if self._closed:
            return False
        wanted = frozenset(d for d in dirs if os.path.isdir(d))
        if self.alive() and wanted == self.dirs and wanted:
            if self._handler is not None:
                self._handler.targets = targets  # a symlink may point elsewhere now
            return True
        self._stop_observer()
        if not wanted:
            raise FileNotFoundError(f"no directory to watch among {sorted(dirs)}")
        observer = Observer()
        handler = _Handler(targets, self.callback)
        try:
            for directory in sorted(wanted):
                observer.schedule(handler, directory, recursive=False, event_filter=_EVENT_FILTER)
            observer.start()
        except BaseException:
            self._discard(observer)
            raise
        self._name_threads(observer)
        self.observer = observer
        self._handler = handler
        self.dirs = wanted
        self.close_events = isinstance(observer, _CLOSE_EVENT_OBSERVERS)
        return True

    def _name_threads(self, observer: BaseObserver) -> None:
        observer.name = f"flagkit-watch-{self.name}"
        for index, emitter in enumerate(observer.emitters):
            emitter.name = f"flagkit-watch-{self.name}-emitter-{index}"
        inotify = getattr(observer, "_inotify_fd", None)
        if inotify is not None and hasattr(inotify, "name"):
            inotify.name = f"flagkit-watch-{self.name}-inotify"

    def stop(self) -> None:
        """Stop the observer (it is restarted by the next :meth:`ensure`)."""
        with self._held():
            self._stop_observer()

    def close(self) -> None:
        """Stop the observer for good: later :meth:`ensure` calls do nothing."""
        with self._held():
            self._closed = True
            self._stop_observer()

    @contextlib.contextmanager
    def _held(self) -> Iterator[None]:
        """The lock, waited for a bounded time: a thread killed while holding it (an
        asynchronous exception between acquire and release) must not hang ``close()``
        forever; past the wait, stopping goes on without it and the lock is replaced."""
        if self._lock.acquire(timeout=_LOCK_WAIT):
            try:
                yield
            finally:
                self._lock.release()
            return
        logger.warning("flagkit: file watcher %s: its lock was never released; stopping anyway", self.name)
        self._lock = threading.Lock()
        yield

    def _stop_observer(self, timeout: float = 1.0) -> None:
        observer, self.observer = self.observer, None
        self.dirs = frozenset()
        if observer is not None:
            self._discard(observer, timeout)

    @staticmethod
    def _discard(observer: BaseObserver, timeout: float = 1.0) -> None:
        try:
            observer.stop()
            if observer.is_alive():
                observer.join(timeout)
        except Exception:  # a broken observer must not break close()
            logger.debug("flagkit: stopping a file observer failed", exc_info=True)
        _release_inotify(getattr(observer, "_inotify_fd", None), timeout)

    def forget_after_fork(self) -> None:
        """In a fork child: drop the parent's observer without touching its watches.

        The inherited inotify descriptor refers to the *parent's* kernel instance; removing
        its watches would silence the parent, so only the child's copies of the descriptors
        are closed.
        """
        observer, self.observer = self.observer, None
        self.dirs = frozenset()
        inotify = getattr(observer, "_inotify_fd", None)
        for attr in ("_inotify_fd", "_kill_r", "_kill_w"):
            fd = getattr(inotify, attr, None)
            if isinstance(fd, int):
                with contextlib.suppress(OSError):
                    os.close(fd)


def _release_inotify(inotify: object, timeout: float) -> None:
    """Close the descriptors of a stopped watchdog inotify reader that it left open.

    watchdog's reader (``InotifyFD``, one per observer: an inotify instance and a pipe)
    closes them itself only when ``close()`` finds it mid-read. Stopped before its thread
    reached its first read - an observer whose ``add_watch`` failed with ENOSPC, or one
    closed right after it started - the thread ends without closing them: three
    descriptors per observer, an inotify instance each (``_is_reading`` still has its
    initial True). Once that thread has ended, nothing else will close them, so we do.
    """
    if inotify is None or not isinstance(inotify, threading.Thread):
        return
    try:
        if inotify.is_alive():
            inotify.join(timeout)
        lock = getattr(inotify, "_lock", None)
        if inotify.is_alive() or lock is None:
            return  # still running: it closes them itself when its read returns
        with lock:
            if getattr(inotify, "_closed", False) and getattr(inotify, "_is_reading", False):
                inotify._is_reading = False  # type: ignore[attr-defined]  # watchdog's flag: closed once
                for attr in ("_inotify_fd", "_kill_r", "_kill_w"):
                    fd = getattr(inotify, attr, None)
                    if isinstance(fd, int):
                        with contextlib.suppress(OSError):
                            os.close(fd)
    except Exception:  # watchdog's internals changed: leave them to it
        logger.debug("flagkit: releasing a file observer's descriptors failed", exc_info=True)
