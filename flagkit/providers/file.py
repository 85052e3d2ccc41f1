"""FileProvider: flags from a YAML or JSON file, hot reloaded when it changes.

How a change is noticed (see docs/providers.md):

* a watchdog observer on the file's *directory* (not its inode), so in-place writes, editors'
  temp-file-and-rename saves, ``sed -i`` and Kubernetes ``..data`` symlink swaps are all seen;
* a cheap ``stat()`` poll (1 s by default) behind it, so a dead observer, an inotify limit or
  a network mount degrades to polling instead of silence.

How it is read: events are debounced (a write in progress waits for its close event, up to
``write_timeout``), reads triggered by events are at least ``min_interval`` apart (a storm
of writes is read a bounded number of times), content not confirmed final by a close or a
rename is read only once its size and mtime hold still for ``settle``, the content hash
drops duplicates, an empty or unparseable document is re-read after a short
settle before it counts as an error, and any error keeps the last good flags.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from pathlib import Path

from .._files import NotRegularFileError, describe_mode, open_regular
from ..document.reader import MAX_DOCUMENT_BYTES, Format
from ..errors import SourceError
from ..flagset import FlagSet
from ._runner import Run, ThreadedProvider, describe, load_failure, rollback
from ._watch import COMPLETE, CREATED, GONE, WRITING, DirectoryWatcher, watch_dirs
from .base import Report

__all__ = ["FileProvider"]

logger = logging.getLogger("flagkit")

_FORCE_READ = COMPLETE | WRITING | CREATED | GONE
_MAX_EVENT_WAIT = 0.5  # longest a burst of events (without a write in progress) delays a read
_WATCH_RETRY = (1.0, 30.0)
"""First and longest pause (seconds) before watching is tried again after it failed for a
reason other than a missing directory (an inotify limit): the stat poll runs meanwhile."""


class _Run(Run):
    """One run of the watcher (``start`` to ``stop``): besides its thread's own events and
    reporter (see :class:`~flagkit.providers._runner.Run`), its event state and observer.
    """

    def __init__(self, name: str, report: Report) -> None:
        super().__init__(report)
        self.events_lock = threading.Lock()
        self.pending = 0
        self.writing = False
        self.watcher = DirectoryWatcher(name, self.on_event)
        self.watch_failure: str | None = None
        self.watch_retry_at = 0.0
        """Monotonic time before which a failed watch is not tried again (polling meanwhile)."""
        self.watch_backoff = 0.0
        self.last_read = -1e9
        """Monotonic time of the last read triggered by events (for ``min_interval``)."""
        self.outbox: list[FlagSet | BaseException] = []
        """Reports found under the read lock, delivered once it is released."""

    def on_event(self, kind: int) -> None:
        """Called by the observer thread for each event in a watched directory."""
        with self.events_lock:
            self.pending |= kind
            if kind & WRITING:
                self.writing = True
            elif kind & (COMPLETE | GONE):
                self.writing = False
        self.wake.set()


class FileProvider(ThreadedProvider[_Run]):
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
        min_interval: Least time (seconds) between two reads triggered by events. The first
            change after a quiet spell is read at once; a storm of writes lasting ``D``
            seconds is read at most ``2 + D / min_interval`` times, the last read coming at
            most ``min_interval`` after the last write (so a continuous storm is still
            reloaded every ``min_interval``).
        write_timeout: How long a write in progress (the file modified and not closed yet,
            seen where the OS reports closes, as inotify does) is waited for before the file
            is read anyway.
        allow_rollback: Accept a document whose ``version`` is lower than the one served
            (by default it is refused and the served flags stay; see docs/providers.md).
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
        min_interval: float = 0.2,
        write_timeout: float = 2.0,
        allow_rollback: bool = False,
        name: str | None = None,
    ) -> None:
        if min(poll_interval, debounce, settle, min_interval, write_timeout) < 0 or poll_interval == 0:
            raise ValueError(
                "poll_interval must be positive; debounce, settle, min_interval, write_timeout >= 0"
            )
        self.path = Path(path)
        super().__init__(name=name or f"file:{self.path}")
        self.watch = watch
        self.max_bytes = max_bytes
        self.fmt = fmt
        self.poll_interval = poll_interval
        self.debounce = debounce
        self.settle = settle
        self.min_interval = min_interval
        self.write_timeout = write_timeout
        self.allow_rollback = allow_rollback
        self._abs = os.path.abspath(self.path)
        # What has been read (kept across fork: the inherited flags are the last good ones).
        self._good: FlagSet | None = None
        self._good_digest: bytes | None = None
        self._bad_digest: bytes | None = None
        self._healthy = False
        self._missing_reported = False
        self._last_problem: str | None = None
        self._sig: tuple[int, ...] | None = None
        self._read_lock = threading.Lock()
        """Held while the file is read and the state above changes: start()'s synchronous
        read and a previous run's thread that outlived stop() never read at the same time."""

    @property
    def _watcher(self) -> DirectoryWatcher:
        """The current run's directory watcher."""
        run = self._run_state
        if run is None:
            raise RuntimeError("the provider has not been started")
        return run.watcher

    # --- public API -------------------------------------------------------------------

    def load(self) -> FlagSet:
        """Read and compile the file now (no state change, no report).

        Raises:
            ConfigError: The file is invalid.
            OSError: The file cannot be read.
        """
        return FlagSet.from_file(self.path, max_bytes=self.max_bytes)

    # start/stop/after_fork only delegate: they are overridden for their docstrings, which
    # say what this provider's thread does (the API reference shows them per provider).
    def start(self, report: Report, *, defer: bool = False) -> None:
        """Read the file now and, with ``watch=True``, start the watcher thread (with
        ``defer=True``, at :meth:`launch`: the client's first use in the process).

        Started again after :meth:`stop`, the new thread first waits for the previous one
        to end (it is told to stop), so there is never more than one watcher.
        """
        super().start(report, defer=defer)

    def stop(self) -> None:
        """Stop the watcher and poller; idempotent, returns within about a second."""
        super().stop()

    def after_fork(self, report: Report) -> None:
        """Restart the watcher in a fork child, keeping the inherited flags as last good."""
        super().after_fork(report)

    # --- run lifecycle hooks (see ThreadedProvider) -----------------------------------

    _kind = "file"

    def _new_run(self, report: Report) -> _Run:
        return _Run(os.path.basename(self._abs), report)

    def _thread_label(self) -> str:
        return os.path.basename(self._abs)

    def _crash_subject(self) -> str:
        return f"file watcher for {self.path}"

    def _threaded(self) -> bool:
        return self.watch

    def _on_start(self, run: _Run) -> None:
        self._locked_check(run, force=True, settle=False, fresh=True)

    def _abort(self, run: _Run) -> None:
        run.watcher.close()

    def _after_fault(self, run: _Run) -> None:
        with self._read_lock:
            self._healthy = False  # the next check re-reads and reports the file again
            self._sig = None

    def _forget_dead_run(self) -> None:
        self._read_lock = threading.Lock()

    def _forget_after_fork(self) -> None:
        if self._run_state is not None:
            self._run_state.watcher.forget_after_fork()
        self._read_lock = threading.Lock()  # another thread may have held it at fork time

    # --- the watcher thread -----------------------------------------------------------

    def _loop(self, run: _Run) -> None:
        self._ensure_watching(run)
        # Catch a change between the first read and the watch being in place. Its events
        # were missed, so nothing says it is complete: a writer may still have the file open.
        if self._changed_while_unwatched(run):
            with run.events_lock:
                run.writing = True  # as if its modify event had been seen: wait for the close
            run.wake.set()
        else:
            self._locked_check(run, force=False, final=False)
        while not run.stopping.is_set():
            if run.wake.wait(self.poll_interval):
                kinds, final = self._collect_events(run)
                if run.stopping.is_set():
                    break
                run.last_read = time.monotonic()
                self._locked_check(run, force=bool(kinds & _FORCE_READ), final=final)
            else:
                self._ensure_watching(run)
                self._locked_check(run, force=False, final=False)

    def _ensure_watching(self, run: _Run) -> None:
        """Start or restart the observer; on failure, poll (and say so once)."""
        if run.stopping.is_set() or time.monotonic() < run.watch_retry_at:
            return
        dirs, targets = watch_dirs(self._abs)
        try:
            run.watcher.ensure(dirs, targets)
        except Exception as exc:
            if not isinstance(exc, FileNotFoundError):
                # An inotify limit (ENOSPC, EMFILE) does not go away by the next poll: each
                # attempt costs an observer's threads, so try again less and less often.
                run.watch_backoff = min(_WATCH_RETRY[1], max(run.watch_backoff * 2, _WATCH_RETRY[0]))
                run.watch_retry_at = time.monotonic() + run.watch_backoff
            message = f"{type(exc).__name__}: {exc}"
            if message != run.watch_failure:
                run.watch_failure = message
                logger.warning(
                    "flagkit: cannot watch %s (%s); polling every %ss instead",
                    self.path,
                    message,
                    self.poll_interval,
                )
        else:
            run.watch_failure = None
            run.watch_backoff = 0.0

    def _changed_while_unwatched(self, run: _Run) -> bool:
        """Whether the file changed since the last read, recently enough (within
        ``write_timeout``, by its mtime) that its writer may still have it open, while the
        watcher now in place reports closes (inotify) - so its close event is worth waiting for.
        """
        if not run.watcher.close_events or not run.watcher.alive():
            return False
        try:
            st = os.stat(self._abs)
        except OSError:
            return False
        if _signature(st) == self._sig:
            return False
        age = time.time() - st.st_mtime  # the file system's clock: a skewed mtime counts as recent
        return age < self.write_timeout

    def _collect_events(self, run: _Run) -> tuple[int, bool]:
        """Gather a burst of events, then keep reads ``min_interval`` apart.

        Returns the kinds seen and whether the content is known to be final (closed after
        writing, or renamed into place, with no write in progress since).
        """
        kinds, final = self._debounce(run)
        earliest = run.last_read + self.min_interval
        while not run.stopping.is_set():
            remaining = earliest - time.monotonic()
            if remaining <= 0:
                break
            run.wake.clear()
            if run.wake.wait(remaining):  # more events while waiting: gather them too
                more, final = self._debounce(run)
                kinds |= more
        return kinds, final

    def _debounce(self, run: _Run) -> tuple[int, bool]:
        """Gather events until the burst is over (see :meth:`_collect_events`)."""
        kinds = 0
        deadline = time.monotonic() + _MAX_EVENT_WAIT
        write_limit: float | None = None
        while True:
            run.wake.clear()
            with run.events_lock:
                kinds |= run.pending
                run.pending = 0
                writing = run.writing
            now = time.monotonic()
            if run.stopping.is_set():
                return kinds, False
            if writing and run.watcher.close_events:
                # A writer has the file open (modified, not closed): its close event will
                # come, however long it pauses mid-write - up to write_timeout.
                if write_limit is None:
                    write_limit = now + self.write_timeout
                if now >= write_limit:
                    with run.events_lock:
                        run.writing = False  # the writer keeps it open: read anyway
                    return kinds, False
                wait = write_limit - now
            elif kinds & COMPLETE:
                return kinds, True  # closed or renamed into place: the content is final
            else:
                if now >= deadline:
                    return kinds, False
                wait = min(deadline - now, self.debounce)
            if not run.wake.wait(wait) and not writing:
                return kinds, False  # quiet: the burst is over

    # --- reading ----------------------------------------------------------------------

    def _locked_check(
        self, run: _Run, *, force: bool, settle: bool = True, fresh: bool = False, final: bool = True
    ) -> None:
        """:meth:`_check` under the read lock, then deliver what it found (outside the lock,
        so a slow report callback never holds up another run's read)."""
        with self._read_lock:
            if run.stopping.is_set():
                return  # a run that was stopped reads nothing more
            if fresh:  # a new reporter must hear the current state even if nothing changed
                self._healthy = self._missing_reported = False
                self._bad_digest = self._last_problem = self._sig = None
            try:
                self._check(run, force=force, settle=settle, final=final)
            except Exception as exc:  # a bug or a resource problem: keep the last good flags
                logger.error("flagkit: checking %s failed", self.path, exc_info=True)
                problem = SourceError(f"internal error while reading: {describe(exc)}", str(self.path))
                self._fail(run, problem, None)
            results, run.outbox = run.outbox, []
            current = self._healthy and self._sig is not None  # the file is what we serve
        for result in results:
            super()._emit(run, result)  # reports it unless the run was stopped meanwhile
        if current:
            self._confirm(run)  # status()'s fresh_at

    def _emit(self, run: _Run, result: FlagSet | BaseException) -> None:
        run.outbox.append(result)  # delivered by _locked_check

    def _check(self, run: _Run, *, force: bool, settle: bool = True, final: bool = True) -> None:
        """Reload if the file changed. Called with the read lock held.

        ``final=False``: nothing said the content is complete (a poll, a read after a quiet
        spell without a close event), so it is read only if its size and mtime hold still
        for ``settle`` seconds; otherwise the next event or poll tries again.
        """
        try:
            st = os.stat(self._abs)
        except FileNotFoundError:
            self._on_missing(run, settle)
            return
        except OSError as exc:
            self._sig = None
            self._fail(run, SourceError(f"cannot read: {exc.strerror or exc}", str(self.path)), None)
            return
        kind = describe_mode(st.st_mode)
        if kind is not None:  # a FIFO would block open() forever; a device never ends
            self._sig = None
            self._fail(run, SourceError(NotRegularFileError(self.path, kind).detail, str(self.path)), None)
            return
        sig = _signature(st)
        if not force and sig == self._sig and self._healthy:
            return
        if settle and not final and not self._holds_still(run, sig):
            self._sig = None  # still being written: look again at the next event or poll
            return
        attempts = 4 if settle else 0
        for attempt in range(attempts + 1):
            problem, digest = self._read_once(run)
            if problem is None or attempt == attempts or run.stopping.wait(self.settle):
                break
        if problem is not None:
            self._fail(run, problem, digest)

    def _holds_still(self, run: _Run, sig: tuple[int, ...]) -> bool:
        """Whether the file's signature is the same ``settle`` seconds later."""
        if run.stopping.wait(self.settle):
            return False
        try:
            return _signature(os.stat(self._abs)) == sig
        except OSError:
            return False

    def _read_once(self, run: _Run) -> tuple[BaseException | None, bytes | None]:
        """Read, dedupe and compile once. Returns the problem (if any) and the content hash."""
        try:
            with open_regular(self._abs) as fh:  # checked on the descriptor: no race
                st = os.fstat(fh.fileno())
                if st.st_size > self.max_bytes:
                    message = f"file is {st.st_size:,} bytes, over the limit of {self.max_bytes:,}"
                    return SourceError(message, str(self.path)), None
                data = fh.read(self.max_bytes + 1)
                after = os.fstat(fh.fileno())
        except FileNotFoundError:
            return SourceError("file disappeared while being read", str(self.path)), None
        except NotRegularFileError as exc:
            return SourceError(exc.detail, str(self.path)), None
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
                self._emit(run, self._good)
            return None, digest
        if digest == self._bad_digest:
            return None, digest  # the same bad content was already reported
        if self._good is not None and not data.strip():
            return SourceError("file is empty", str(self.path)), digest
        try:  # an empty document (`---`, only comments, `null`) is a ConfigError here too
            flagset = FlagSet.from_bytes(
                data, source=str(self.path), fmt=self.fmt, max_bytes=self.max_bytes, version=digest.hex()[:16]
            )
        except Exception as exc:  # ConfigError, or whatever else the loader raised about it
            return load_failure(exc, str(self.path)), digest
        refused = None if self.allow_rollback else rollback(self._good, flagset, str(self.path))
        if refused is not None:
            return refused, digest
        self._good, self._good_digest, self._bad_digest, self._healthy = flagset, digest, None, True
        self._last_problem = None
        self._emit(run, flagset)
        return None, digest

    def _fail(self, run: _Run, problem: BaseException, digest: bytes | None) -> None:
        message = str(problem)
        repeated = not self._healthy and message == self._last_problem
        self._healthy = False
        self._last_problem = message
        if digest is not None:
            self._bad_digest = digest
        else:
            self._sig = None  # re-read on the next poll
        if not repeated:  # e.g. permission denied: report it once, not every poll
            self._emit(run, problem)

    def _on_missing(self, run: _Run, settle: bool) -> None:
        if self._missing_reported:
            return
        # An editor may have moved the file away and be about to write the new one.
        if settle and self._good is not None and run.stopping.wait(self.settle * 4):
            return
        if settle and os.path.exists(self._abs):
            self._check(run, force=True)
            return
        self._missing_reported = True
        self._healthy = False
        self._sig = None
        self._bad_digest = None
        if self._good is not None:
            message = "file was deleted (it is reloaded when it returns)"
        else:
            message = "file does not exist (yet); it is loaded when it appears"
        self._emit(run, SourceError(message, str(self.path)))


def _signature(st: os.stat_result) -> tuple[int, ...]:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
