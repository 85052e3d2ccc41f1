"""The evaluation core: ``is_enabled``, ``get_value``, ``variant`` and ``evaluate``.

The four differ only in what they return of a resolution (the *projection*) and what they
return when the flag is unknown or the evaluation fails. They share one body,
:data:`_TEMPLATE`, from which each method is GENERATED at import (attrs' ``_make_*_script``
idiom): the source text is formatted with the method's projection, compiled under a
``<flagkit generated ...>`` filename and registered in :mod:`linecache` (by
:func:`flagkit._generated.generate`), so tracebacks and debuggers show the generated
source. Why not one shared function taking the projection? A Python call costs 15-30 ns, a
sixth of a boolean flag's whole evaluation; the generated methods have none, and no line of
them is copied by hand.

The body: take the snapshot (the pinned one inside ``Flags.snapshot()``) and look the key up
in its ``fast`` table, which holds the pre-built resolution of a constant flag (served
without merging the context or calling anything) or the flag's resolver (called with the
merged context). A snapshot with hooks or observers has an empty ``fast`` table, so the
miss branch tests for them (the plain path pays no test): the usage "fast lane" appends the
resolution to the flag's tally, and everything else goes the long way
(:meth:`Core._observed`, :meth:`Core._hooked`).

``AMBIENT.get`` is bound once to the module global ``_ambient``: ``AMBIENT.get()`` on an
imported name is an attribute load plus a bound-method allocation per call (CPython
bpo-44313, ~25 ns).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar, overload

from .._context import AMBIENT
from .._engine.compiler import Resolution, Resolver
from .._generated import generate
from .._observe.hooks import ERROR_RESOLUTION, HookRunner, Observe
from ..errors import FlagNotFoundError
from ..evaluation import CODE_DEFAULT, ErrorCode, Evaluation, Reason
from .problems import MAX_WARNED, Warnings, coerce, failed, kind, not_found, typed

if TYPE_CHECKING:
    from contextvars import ContextVar

    from .snapshot import Snapshot

__all__ = ["Core", "merge"]

T = TypeVar("T")

_ambient = AMBIENT.get  # bound once (bpo-44313): see the module docstring
_NO_CONTEXT: Mapping[str, Any] = {}
_NO_RESOLUTION: Resolution = (object(), None, Reason.ERROR, None)
"""The fast lanes' "the resolver raised": matches no type, so the long way handles it."""
_MISSED: Resolution = (CODE_DEFAULT, None, Reason.ERROR, None)
"""Stored in a snapshot's ``fast`` table for a key that missed and was reported: the next
evaluation of that key serves the caller's default with no call (``evaluate`` tests for it)."""
_ERROR = Reason.ERROR  # a global: an enum member lookup costs ~70 ns on CPython 3.11


def merge(context: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """The ambient context with ``context`` merged over it (key by key)."""
    ambient = _ambient()
    if context is None:
        return ambient
    return {**ambient, **context} if ambient else context


# The merge as the generated methods inline it (the same lines as `merge` above).
_MERGE = """\
if context is None:
    ctx = _ambient()
else:
    ambient = _ambient()
    ctx = {**ambient, **context} if ambient else context"""

_TEMPLATE = """\
def {name}(self, key: str, {default}context: Mapping[str, Any] | None = None) -> {returns}:
    snap = self._snapshot if not self._pins else (self._pin.get() or self._snapshot)
    res = snap.fast.get(key)  # a snapshot with hooks or observers has no fast table: a miss
    if res.__class__ is not tuple:
        if res is None:
            if snap.hooks is not None:
{observed:16}
            return self._missing(key, snap, {fallback_args})
        try:  # zero-cost unless it raises; the merge is inside: a non-mapping context fails there
{merge:12}
            res = res(ctx, snap.table)
        except Exception as exc:
            {on_error}
    elif context.__class__ is not dict and context is not None and res is not _MISSED:
        try:  # a constant, and a context of another type: the merge may refuse it, as always
            merge(context)
        except Exception as exc:
            {on_error}
{project:4}
"""

# With usage counting as the only observer, a resolution the caller gets as served is
# appended to the flag's tally here (one C call); anything else goes the long way.
_LANE = """\
lane = snap.hooks.lanes.get(key)
if lane is not None:
    counted, tally = lane
    try:
{merge:8}
        res = counted(ctx, snap.table)
    except Exception:
        res = _NO_RESOLUTION
    if {lane_accepts}:
        tally.append(res)
        return {lane_returns}
return self._observed(snap, key, {observed_fallback}, context, "{name}"){observed_pick}"""

_PROJECTIONS: dict[str, dict[str, str]] = {
    "is_enabled": {
        "doc": """True when the flag serves the boolean ``true``; False otherwise, including on errors.

        Args:
            key: The flag key.
            context: Attributes of the user/request, merged over the ambient context.
        """,
        "default": "",
        "returns": "bool",
        "fallback_args": "False",
        "on_error": "return False",
        "project": "return res[0] is True",
        "lane_accepts": "res[0] is True or res[0] is False",
        "lane_returns": "res[0]",
        "observed_fallback": "False",
        "observed_pick": "[0] is True",
        "observed": _LANE,
    },
    "get_value": {
        "doc": """The flag's value, or ``default`` when the flag is unknown or its value has another type.

        The value must have the type of ``default`` (``int`` is accepted for a ``float``
        default; ``None`` as default accepts any type).
        """,
        "default": "default: Any, ",
        "returns": "Any",
        "fallback_args": "default",
        "on_error": "return default",
        "project": """\
value = res[0]
if type(value) is type(default) or (default is None and value is not CODE_DEFAULT):
    return value
return self._retyped(key, value, default)""",
        "lane_accepts": (
            "res is not _NO_RESOLUTION"
            " and (type(res[0]) is type(default) or (default is None and res[0] is not CODE_DEFAULT))"
        ),
        "lane_returns": "res[0]",
        "observed_fallback": "default",
        "observed_pick": "[0]",
        "observed": _LANE,
    },
    "variant": {
        "doc": """The name of the variant served, or ``None`` if the flag is unknown or errored.""",
        "default": "",
        "returns": "str | None",
        "fallback_args": "None",
        "on_error": "return None",
        "project": "return res[1]",
        "lane_accepts": "res is not _NO_RESOLUTION and res[0] is not CODE_DEFAULT",
        "lane_returns": "res[1]",
        "observed_fallback": "None",
        "observed_pick": "[1]",
        "observed": _LANE,
    },
    "evaluate": {
        "doc": """Full details: value, variant, reason, matching rule and error code.""",
        "default": "default: Any, ",
        "returns": "Evaluation[Any]",
        "fallback_args": "default, True",
        "on_error": "return failed(key, default, exc)",
        "project": """\
value, variant, reason, rule = res
if type(value) is type(default) or (default is None and value is not CODE_DEFAULT):
    return Evaluation(key, value, variant, reason, rule)
if res is _MISSED:
    return not_found(key, default)
return self._detailed(key, default, value, variant, reason, rule)""",
        "observed": 'return self._hooked(snap, key, default, context, "evaluate")',
    },
}


def _indent(text: str, spaces: int) -> str:
    return "\n".join((" " * spaces + line) if line else line for line in text.splitlines())


def _generate(name: str) -> Callable[..., Any]:
    """Compile the method ``name`` from :data:`_TEMPLATE` (see the module docstring)."""
    parts = {"name": name, **_PROJECTIONS[name]}
    del parts["doc"]
    parts["merge:12"] = _indent(_MERGE, 12)
    parts["project:4"] = _indent(parts["project"], 4)
    parts["observed:16"] = _indent(parts["observed"].replace("{merge:8}", _indent(_MERGE, 8)), 16)
    parts.pop("observed")
    source = _TEMPLATE
    for _ in range(2):  # plain replacement (the merge's dict display has braces); twice: the
        for field, text in parts.items():  # observed part brings placeholders of its own
            source = source.replace("{" + field + "}", text)
    function: Callable[..., Any] = generate(source, f"<flagkit generated Flags.{name}>", globals())[name]
    function.__qualname__ = f"Flags.{name}"
    function.__doc__ = _PROJECTIONS[name]["doc"]
    return function


class Core:
    """The evaluation methods of :class:`~flagkit.Flags` (a base class: the hot path reads the
    client's attributes directly, with no delegation call; ``Flags`` delegates nothing here).

    The client provides ``_snapshot``, ``_pins``, ``_pin``, ``_strict``, ``_warnings``,
    ``_launched`` and ``_launch()``.
    """

    __slots__ = ()

    if TYPE_CHECKING:
        _snapshot: Snapshot
        _pins: int
        _pin: ContextVar[Snapshot | None]
        _strict: bool
        _warnings: Warnings
        _launched: bool

        def _launch(self) -> None: ...

    if TYPE_CHECKING:  # the signatures; the methods are generated (see the end of this module)

        def is_enabled(self, key: str, context: Mapping[str, Any] | None = None) -> bool:
            """True when the flag serves the boolean ``true``; False otherwise, including on errors."""

        @overload
        def get_value(self, key: str, default: None, context: Mapping[str, Any] | None = None) -> Any: ...

        @overload
        def get_value(self, key: str, default: T, context: Mapping[str, Any] | None = None) -> T: ...

        def get_value(self, key: str, default: Any, context: Mapping[str, Any] | None = None) -> Any:
            """The flag's value, or ``default``."""

        def variant(self, key: str, context: Mapping[str, Any] | None = None) -> str | None:
            """The name of the variant served."""

        @overload
        def evaluate(
            self, key: str, default: None, context: Mapping[str, Any] | None = None
        ) -> Evaluation[Any]: ...

        @overload
        def evaluate(
            self, key: str, default: T, context: Mapping[str, Any] | None = None
        ) -> Evaluation[T]: ...

        def evaluate(
            self, key: str, default: Any, context: Mapping[str, Any] | None = None
        ) -> Evaluation[Any]:
            """Full details."""

    # --- the miss branch: a typo'd key or a wrong default, logged once per key ----------------

    def _missing(self, key: str, snap: Snapshot, fallback: Any, details: bool = False) -> Any:
        """``key`` is not in ``snap``: raise in strict mode, else report it once and return
        ``fallback`` (``evaluate``: FLAG_NOT_FOUND details for it). A key reported is stored in
        the snapshot's ``fast`` table as missed (bounded), so it costs one lookup next time."""
        if self._strict:
            raise FlagNotFoundError(key)
        if not self._launched:
            self._launch()  # nothing loaded yet (an HttpProvider's first fetch is a thread's)
        if snap.table:  # else nothing is loaded yet: every key misses
            self._warnings.missing(key, snap.table)
            fast = snap.fast  # a dict only in a snapshot without hooks (see Snapshot.fast)
            if type(fast) is dict and len(fast) < len(snap.table) + MAX_WARNED:
                fast[key] = _MISSED
        return not_found(key, fallback) if details else fallback

    def _retyped(self, key: str, value: Any, default: Any) -> Any:
        """``get_value``'s answer for a value whose exact type differs from the default's."""
        if value is CODE_DEFAULT:  # the file says: serve what the code passed
            return default
        coerced = coerce(value, default)  # default, or a float for it
        if coerced is default and kind(value) is not kind(default):
            self._warnings.mismatch(key, value, default)
        return coerced

    def _detailed(
        self, key: str, default: Any, value: Any, variant: str | None, reason: Reason, rule: str | None
    ) -> Evaluation[Any]:
        """``evaluate``'s answer for a value whose exact type differs from the default's."""
        details = typed(key, default, value, variant, reason, rule)
        if details.error_code is ErrorCode.TYPE_MISMATCH:
            self._warnings.mismatch(key, value, default)
        return details

    # --- observed: hooks, usage counts, exposures -----------------------------------------

    def _observed(
        self, snap: Snapshot, key: str, default: Any, context: Mapping[str, Any] | None, method: str
    ) -> Resolution:
        """``(value, variant, ...)`` as the caller gets them, with hooks or observers (usage
        counts, exposures) on: the observers record what the caller got, after the type check.
        (The resolution itself when the caller gets it as served: nothing is allocated.)"""
        runner: HookRunner = snap.hooks  # type: ignore[assignment]  # every caller tests it
        if runner.hooks:  # hooks: their own path
            details = self._run_hooks(snap, runner, key, default, context, method)
            return details.value, details.variant, details.reason, details.rule
        entry = runner.observed.get(key)
        if entry is None:
            self._missing(key, snap, None)
            return default, None, _ERROR, None
        resolve, observe = entry
        try:
            ctx = merge(context)
            res = resolve(ctx, snap.table)
        except Exception:  # a context that is not a mapping
            if observe is not None:
                observe(_NO_CONTEXT, ERROR_RESOLUTION)
            return default, None, _ERROR, None
        value = res[0]
        if type(value) is type(default) or (default is None and value is not CODE_DEFAULT):
            if observe is not None:
                observe(ctx, res)
            return res
        if value is CODE_DEFAULT:  # the file says: serve what the code passed
            if observe is not None:
                observe(ctx, res)
            return default, None, res[2], res[3]
        coerced = coerce(value, default)  # default, or a float for it
        if coerced is default and kind(value) is not kind(default):  # TYPE_MISMATCH
            if observe is not None:
                observe(ctx, ERROR_RESOLUTION)
            if method != "is_enabled":  # is_enabled is False for anything but true, silently
                self._warnings.mismatch(key, value, default)
            return default, None, _ERROR, res[3]
        if observe is not None:
            observe(ctx, res)
        return coerced, res[1], res[2], res[3]

    def _hooked(
        self, snap: Snapshot, key: str, default: Any, context: Mapping[str, Any] | None, method: str
    ) -> Evaluation[Any]:
        """The evaluation with the registered hooks around it (see :mod:`flagkit._observe.hooks`),
        and observed (usage, exposures) as the caller gets it."""
        runner = snap.hooks
        if runner is None:  # pragma: no cover - every caller tests it first
            raise RuntimeError("no hooks registered")
        entry = runner.observed.get(key)
        if entry is not None and not runner.hooks:  # observers only: no HookContext
            resolve, observe = entry
            try:
                ctx = merge(context)
            except Exception as exc:  # a context that is not a mapping
                if observe is not None:
                    observe(_NO_CONTEXT, ERROR_RESOLUTION)
                return failed(key, default, exc)
            return self._checked(snap, resolve, observe, key, default, method, ctx)[0]
        return self._run_hooks(snap, runner, key, default, context, method)

    def _run_hooks(
        self,
        snap: Snapshot,
        runner: HookRunner,
        key: str,
        default: Any,
        context: Mapping[str, Any] | None,
        method: str,
    ) -> Evaluation[Any]:
        entry = runner.observed.get(key)
        observe = entry[1] if entry is not None else None
        try:
            ctx = merge(context)
        except Exception as exc:  # a context that is not a mapping
            if observe is not None:
                observe(_NO_CONTEXT, ERROR_RESOLUTION)
            failure = (failed(key, default, exc), exc)
            if not runner.hooks:
                return failure[0]
            return runner.run(key, default, {}, snap.providers.get(key), method, lambda _ctx: failure)
        flag = snap.flags.get(key)
        if flag is None:
            if not self._launched:
                self._launch()
            self._warnings.missing(key, snap.table)
            missing = FlagNotFoundError(key)
            if runner.hooks:
                details = runner.run(
                    key, default, ctx, None, method, lambda _ctx: (not_found(key, default), missing)
                )
            else:
                details = not_found(key, default)
            if self._strict:
                raise missing
            return details
        resolve = flag.resolve  # unobserved: observed once the type check is done
        if not runner.hooks:  # observers only
            return self._checked(snap, resolve, observe, key, default, method, ctx)[0]
        return runner.run(
            key,
            default,
            ctx,
            snap.providers.get(key),
            method,
            partial(self._checked, snap, resolve, observe, key, default, method),
        )

    def _checked(
        self,
        snap: Snapshot,
        resolve: Resolver,
        observe: Observe | None,
        key: str,
        default: Any,
        method: str,
        ctx: Mapping[str, Any],
    ) -> tuple[Evaluation[Any], Exception | None]:
        """Resolve, check the type against ``default``, observe what the caller gets: ``(details,
        exception)``, the exception set for an error (for the ``error`` hooks)."""
        try:
            value, variant, reason, rule = res = resolve(ctx, snap.table)
        except Exception as exc:
            if observe is not None:
                observe(_NO_CONTEXT, ERROR_RESOLUTION)
            return failed(key, default, exc), exc
        if type(value) is type(default) or (default is None and value is not CODE_DEFAULT):
            if observe is not None:
                observe(ctx, res)
            return Evaluation(key, value, variant, reason, rule), None
        details = typed(key, default, value, variant, reason, rule)
        if details.reason is _ERROR:
            if observe is not None:
                observe(ctx, ERROR_RESOLUTION)
            if method in ("get_value", "evaluate"):
                self._warnings.mismatch(key, value, default)
            return details, TypeError(details.error_message)
        if observe is not None:
            observe(ctx, res)
        return details, None


for _name in _PROJECTIONS:  # the four evaluation methods, compiled from _TEMPLATE
    setattr(Core, _name, _generate(_name))
