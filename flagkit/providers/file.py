"""FileProvider: flags from a YAML or JSON file, hot reloaded when it changes.

How a change is noticed (see docs/providers.md):

* a watchdog observer on the file's *directory* (not its inode), so in-place writes, editors'
  temp-file-and-rename saves, ``sed -i`` and Kubernetes ``..data`` symlink swaps are all seen;
* a cheap ``stat()`` poll (1 s by default) behind it, so a dead observer, an inotify limit or
  a network mount degrades to polling instead of silence.

How it is read: events are debounced (a write in progress waits for its close event), the
content hash drops duplicates, an empty or unparseable document is re-read after a short
settle before it counts as an error, and any error keeps the last good flags.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from pathlib import Path

from ..errors import ConfigError, SourceError
from ..flagset import FlagSet
from ..loading import MAX_DOCUMENT_BYTES, Format
from ._watch import COMPLETE, CREATED, GONE, WRITING, DirectoryWatcher, watch_dirs
from .base import Provider, Report

__all__ = ["FileProvider"]

logger = logging.getLogger("flagkit")

_FORCE_READ = COMPLETE | WRITING | CREATED | GONE
_MAX_EVENT_WAIT = 0.5  # longest a burst of events may delay a read
_CLOSE_WAIT = 0.25  # how long a modification waits for its close event


class FileProvider(Provider):
    """Flags from a YAML (``.yaml``/``.yml``) or JSON (``.json``) file.

    The file is read synchronously by :meth:`start`, so ``Flags.from_file`` is ready at
    once. With ``watch=True`` a background thread (``flagkit-file-*``) reloads it on change.

    A file that does not exist yet reports a :class:`~flagkit.SourceError` (state ``error``:
    no flags, not ready) and is loaded when it appears. A file deleted later, or changed to
    something invalid, keeps the last good flags (state ``stale``) until a good version
    returns.

    Args:
        path: The flag file.
        watch: Reload when the file changes.
        max_bytes: Size limit for the file.
        fmt: ``"yaml"`` or ``"json"``; by default chosen from the file extension.
        poll_interval: Seconds between ``stat()`` checks backing the watcher.
        debounce: Quiet time (seconds) that ends a burst of events.
        settle: Seconds between re-reads of an empty or unparseable file (up to four
            times) before it counts as an error: it may be a write in progress.
        name: Label in ``status()``; default ``file:<path>``.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        watch: bool = True,
        max_bytes: int = MAX_DOCUMENT_BYTES,
        fmt: Format | None = None,
        poll_interval: float = 1.0,
        debounce: float = 0.02,
        settle: float = 0.05,
        name: str | None = None,
    ) -> None:
        self.path = Path(path)
        super().__init__(name=name or f"file:{self.path}")
        self.watch = watch
        self.max_bytes = max_bytes
        self.fmt = fmt
        self.poll_interval = poll_interval
        self.debounce = debounce
        self.settle = settle
        self._abs = os.path.abspath(self.path)
        # What has been read (kept across fork: the inherited flags are the last good ones).
        self._good: FlagSet | None = None
        self._good_digest: bytes | None = None
        self._bad_digest: bytes | None = None
        self._healthy = False
        self._missing_reported = False
        self._last_problem: str | None = None
        self._sig: tuple[int, ...] | None = None
        self._report: Report | None = None
        self._stopped = False
        self._new_runtime()

    def _new_runtime(self) -> None:
        """Fresh threads, locks and events (at construction and in a fork child)."""
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._events_lock = threading.Lock()
        self._pending = 0
        self._writing = False
        self._thread: threading.Thread | None = None
        self._watcher = DirectoryWatcher(os.path.basename(self._abs), self._on_event)
        self._watch_failure: str | None = None

    # --- public API -------------------------------------------------------------------

    def load(self) -> FlagSet:
        """Read and compile the file now (no state change, no report).

        Raises:
            ConfigError: The file is invalid.
            OSError: The file cannot be read.
        """
        return FlagSet.from_file(self.path, max_bytes=self.max_bytes)

    def start(self, report: Report) -> None:
        """Read the file now and, with ``watch=True``, start the watcher thread."""
        if self._stopping.is_set():  # started again after stop()
            self._new_runtime()
        self._report = report
        self._stopped = False
        # A new reporter must hear the current state even if the file did not change.
        self._healthy = self._missing_reported = False
        self._bad_digest = self._last_problem = self._sig = None
        self._check(force=True, settle=False)
        if self.watch:
            self._start_thread()

    def stop(self) -> None:
        """Stop the watcher and poller; idempotent, returns within about a second."""
        self._stopped = True
        self._stopping.set()
        self._wake.set()
        self._watcher.close()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(1.0)

    def after_fork(self, report: Report) -> None:
        """Restart the watcher in a fork child, keeping the inherited flags as last good."""
        self._watcher.forget_after_fork()
        self._new_runtime()
        self._report = report
        if self.watch and not self._stopped:
            self._start_thread()

    # --- threads ----------------------------------------------------------------------

    def _start_thread(self) -> None:
        self._thread = threading.Thread(
            target=self._run, name=f"flagkit-file-{os.path.basename(self._abs)}", daemon=True
        )
        self._thread.start()

    def _on_event(self, kind: int) -> None:
        """Called by the observer thread for each event in a watched directory."""
        with self._events_lock:
            self._pending |= kind
            if kind & WRITING:
                self._writing = True
            elif kind & (COMPLETE | GONE):
                self._writing = False
        self._wake.set()

    def _run(self) -> None:
        try:
            self._ensure_watching()
            # Catch a change between the first read and the watch being in place.
            self._check(force=False)
            while not self._stopping.is_set():
                if self._wake.wait(self.poll_interval):
                    kinds = self._collect_events()
                    if self._stopping.is_set():
                        break
                    self._check(force=bool(kinds & _FORCE_READ))
                else:
                    self._ensure_watching()
                    self._check(force=False)
        except Exception:  # pragma: no cover - a bug; keep serving the last good flags
            logger.exception("flagkit: file watcher for %s crashed", self.path)

    def _ensure_watching(self) -> None:
        """Start or restart the observer; on failure, poll (and say so once)."""
        if self._stopping.is_set():
            return
        dirs, targets = watch_dirs(self._abs)
        try:
            self._watcher.ensure(dirs, targets)
        except Exception as exc:
            message = f"{type(exc).__name__}: {exc}"
            if message != self._watch_failure:
                self._watch_failure = message
                logger.warning(
                    "flagkit: cannot watch %s (%s); polling every %ss instead",
                    self.path,
                    message,
                    self.poll_interval,
                )
        else:
            self._watch_failure = None

    def _collect_events(self) -> int:
        """Debounce: gather events until the burst is over. Returns the kinds seen."""
        kinds = 0
        deadline = time.monotonic() + _MAX_EVENT_WAIT
        while True:
            self._wake.clear()
            with self._events_lock:
                kinds |= self._pending
                self._pending = 0
                writing = self._writing
            remaining = deadline - time.monotonic()
            if self._stopping.is_set() or remaining <= 0:
                return kinds
            if writing and self._watcher.close_events:
                wait = min(remaining, _CLOSE_WAIT)  # the close event will follow
            elif kinds & COMPLETE:
                return kinds  # content is final: read now
            else:
                wait = min(remaining, self.debounce)
            if not self._wake.wait(wait):
                if writing:
                    with self._events_lock:
                        self._writing = False  # the writer keeps it open: read anyway
                return kinds

    # --- reading ----------------------------------------------------------------------

    def _emit(self, result: FlagSet | BaseException) -> None:
        report = self._report
        if report is not None and not self._stopped:
            report(result)

    def _check(self, *, force: bool, settle: bool = True) -> None:
        """Reload if the file changed. Runs in one thread at a time."""
        try:
            st = os.stat(self._abs)
        except FileNotFoundError:
            self._on_missing(settle)
            return
        except OSError as exc:
            self._sig = None
            self._fail(SourceError(f"cannot read: {exc.strerror or exc}", str(self.path)), None)
            return
        sig = _signature(st)
        if not force and sig == self._sig and self._healthy:
            return
        attempts = 4 if settle else 0
        for attempt in range(attempts + 1):
            problem, digest = self._read_once()
            if problem is None or attempt == attempts or self._stopping.wait(self.settle):
                break
        if problem is not None:
            self._fail(problem, digest)

    def _read_once(self) -> tuple[BaseException | None, bytes | None]:
        """Read, dedupe and compile once. Returns the problem (if any) and the content hash."""
        try:
            with open(self._abs, "rb") as fh:
                st = os.fstat(fh.fileno())
                if st.st_size > self.max_bytes:
                    message = f"file is {st.st_size:,} bytes, over the limit of {self.max_bytes:,}"
                    return SourceError(message, str(self.path)), None
                data = fh.read(self.max_bytes + 1)
                after = os.fstat(fh.fileno())
        except FileNotFoundError:
            return SourceError("file disappeared while being read", str(self.path)), None
        except OSError as exc:
            return SourceError(f"cannot read: {exc.strerror or exc}", str(self.path)), None
        if len(data) != after.st_size or _signature(st) != _signature(after):
            return SourceError("file changed while being read", str(self.path)), None
        digest = hashlib.sha256(data).digest()
        self._sig = _signature(after)
        self._missing_reported = False
        if digest == self._good_digest and self._good is not None:
            if not self._healthy:  # back to the good content (e.g. a bad edit undone)
                self._healthy = True
                self._bad_digest = self._last_problem = None
                self._emit(self._good)
            return None, digest
        if digest == self._bad_digest:
            return None, digest  # the same bad content was already reported
        if self._good is not None and not data.strip():
            return SourceError("file is empty", str(self.path)), digest
        try:
            flagset = FlagSet.from_bytes(
                data, source=str(self.path), fmt=self.fmt, max_bytes=self.max_bytes, version=digest.hex()[:16]
            )
        except ConfigError as exc:
            return exc, digest
        self._good, self._good_digest, self._bad_digest, self._healthy = flagset, digest, None, True
        self._last_problem = None
        self._emit(flagset)
        return None, digest

    def _fail(self, problem: BaseException, digest: bytes | None) -> None:
        message = str(problem)
        repeated = not self._healthy and message == self._last_problem
        self._healthy = False
        self._last_problem = message
        if digest is not None:
            self._bad_digest = digest
        else:
            self._sig = None  # re-read on the next poll
        if not repeated:  # e.g. permission denied: report it once, not every poll
            self._emit(problem)

    def _on_missing(self, settle: bool) -> None:
        if self._missing_reported:
            return
        # An editor may have moved the file away and be about to write the new one.
        if settle and self._good is not None and self._stopping.wait(self.settle * 4):
            return
        if settle and os.path.exists(self._abs):
            self._check(force=True)
            return
        self._missing_reported = True
        self._healthy = False
        self._sig = None
        self._bad_digest = None
        if self._good is not None:
            message = "file was deleted (it is reloaded when it returns)"
        else:
            message = "file does not exist (yet); it is loaded when it appears"
        self._emit(SourceError(message, str(self.path)))


def _signature(st: os.stat_result) -> tuple[int, ...]:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
