"""A compiled flag and its values: :class:`CompiledFlag`, read-only variants, constant flags.

A compiled flag is a *resolver* plus what tools need to describe it: ``resolver(context,
table) -> Resolution``, where ``table`` maps flag keys to resolvers (for prerequisites) and a
:data:`Resolution` is a tuple ``(value, variant, reason, rule)`` allocated at load time, so the
hot path only returns one of them. A constant flag's resolver is a :class:`_Constant`'s bound
``resolve``, which :attr:`CompiledFlag.constant` recognises.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from ..document.definitions import FlagSpec, thawed
from ..document.schema import FlagDefinition
from ..evaluation import Reason
from .interning import Shared, canonical
from .splits import Resolution

__all__ = [
    "BOOLEAN_VARIANTS",
    "CONTAINERS",
    "CompiledFlag",
    "ReadOnlyDict",
    "ReadOnlyList",
    "Resolver",
    "compile_static",
    "constant_flag",
    "constant_of",
    "constant_resolver",
    "fresh_copies",
    "off_variant_name",
    "read_only_variants",
    "switched_off_variant",
    "thawed",
]

Resolver = Callable[[Mapping[str, Any], Mapping[str, Any]], Resolution]

BOOLEAN_VARIANTS: Mapping[str, Any] = MappingProxyType({"on": True, "off": False})
"""Variants of a flag without ``variants``: shared by every such flag, hence read-only."""
CONTAINERS = (dict, list)


class ReadOnlyDict(dict[str, Any]):
    """An object variant as :attr:`CompiledFlag.variants` shows it: a ``dict`` (equal to one,
    JSON-serialisable) that refuses changes, since every request shares it."""

    __slots__ = ()

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError("a flag's variants are read-only (every request shares them); copy the value")

    __setitem__ = __delitem__ = __ior__ = _refuse
    clear = pop = popitem = setdefault = update = _refuse

    def __reduce__(self) -> Any:
        return (dict, (dict(self),))


class ReadOnlyList(list[Any]):
    """A list variant as :attr:`CompiledFlag.variants` shows it (see :class:`ReadOnlyDict`)."""

    __slots__ = ()

    _refuse = ReadOnlyDict._refuse
    __setitem__ = __delitem__ = __iadd__ = __imul__ = _refuse
    append = clear = extend = insert = pop = remove = reverse = sort = _refuse

    def __reduce__(self) -> Any:
        return (list, (list(self),))


def _read_only(value: Any) -> Any:
    if isinstance(value, dict):
        return ReadOnlyDict({key: _read_only(item) for key, item in value.items()})
    if isinstance(value, list):
        return ReadOnlyList(_read_only(item) for item in value)
    return value


def read_only_variants(variants: Mapping[str, Any], shared: Shared | None = None) -> Mapping[str, Any]:
    """``variants`` as :attr:`CompiledFlag.variants` holds them: a read-only mapping, object
    and list values read-only too (the served values stay separate: evaluations copy them)."""
    if type(variants) is MappingProxyType:
        return variants
    if shared is not None:
        key = ("read-only variants", canonical(variants))
        found: Mapping[str, Any] | None = shared.get(key)
        if found is None:
            found = shared[key] = read_only_variants(variants)
        return found
    if any(isinstance(value, CONTAINERS) for value in variants.values()):
        return MappingProxyType({name: _read_only(value) for name, value in variants.items()})
    return MappingProxyType(dict(variants))


@dataclass(frozen=True, slots=True, eq=False)
class CompiledFlag:
    """One flag ready to evaluate, plus what tools need to describe it.

    Attributes:
        key: The flag key.
        resolve: The compiled resolver (hot path).
        variants: Variant name → value, read-only (object and list values too: they are
            shared by every request; :func:`thawed` gives a private copy).
        default_variant: Variant served when nothing matches.
        spec: The definition, kept compactly (``None`` for a bare static value); see
            :mod:`flagkit.document.definitions`.
        fingerprint: Equal fingerprints mean equal behaviour (used to report changes).
        source: Where the flag was loaded from.
    """

    key: str
    resolve: Resolver
    variants: Mapping[str, Any]
    default_variant: str
    spec: FlagSpec | None
    fingerprint: Any
    source: str | None = None

    @property
    def definition(self) -> FlagDefinition | None:
        """The validated definition (``None`` for a bare static value), re-derived on demand."""
        return self.spec.definition() if self.spec is not None else None

    @property
    def constant(self) -> Resolution | None:
        """The resolution this flag serves to every context, or ``None`` when it depends on
        the context, the clock or other flags.

        Set for a static value, a disabled (killed) flag, a flag without rules or whose first
        rule matches everyone with one variant, and an override; ``None`` for a flag serving
        dict or list values (each evaluation gets its own copy) and for any wrapped resolver
        (a guard's). Read it when building a table, not per evaluation: it costs an
        attribute lookup and a type check, and needs no memory of its own.
        """
        return constant_of(self.resolve)

    @property
    def is_static(self) -> bool:
        """True for a bare value (``features: {x: true}``)."""
        return self.spec is None


def off_variant_name(variants: Mapping[str, Any], default: str, off_variant: str | None) -> str:
    """The variant a *switched-off* flag serves: the one meaning of "off" in flagkit.

    A flag is switched off when it is killed (``enabled: false``, ``flagkit kill``), when one
    of its prerequisites fails, and while its guard is tripped. It then serves:

    1. its ``off_variant`` when the file names one (``code_default``: the caller's default);
    2. else its ``false`` variant (every boolean flag has one, ``off``, so a switched-off
       boolean flag is off, whatever its ``default``);
    3. else its ``default`` (a flag of strings, numbers or objects has no obvious "off";
       ``flagkit kill`` refuses such a flag unless told what to serve, and ``validate`` warns
       when the default is truthy).
    """
    if off_variant is not None:
        return off_variant
    return next((name for name, value in variants.items() if value is False), default)


def switched_off_variant(flag: CompiledFlag) -> str:
    """:func:`off_variant_name` of a compiled flag. A static flag has no ``off_variant``: a
    boolean one (``x: true``) is switched off to ``off``; any other serves its only value."""
    definition = flag.definition
    off_variant = definition.off_variant if definition is not None else None
    return off_variant_name(flag.variants, flag.default_variant, off_variant)


class _Constant:
    """A resolver that serves one resolution whatever the context: its bound ``resolve`` is
    the flag's resolver (as fast to call as a closure), and :attr:`CompiledFlag.constant`
    recognises it by its ``__self__``."""

    __slots__ = ("resolution",)

    def __init__(self, resolution: Resolution) -> None:
        self.resolution = resolution

    def resolve(self, ctx: Mapping[str, Any], table: Mapping[str, Any]) -> Resolution:
        """``resolution``, for everyone."""
        return self.resolution


def constant_resolver(resolution: Resolution) -> Resolver:
    return _Constant(resolution).resolve


def constant_of(resolve: Resolver) -> Resolution | None:
    """The resolution ``resolve`` serves to every context if it is a constant's, else ``None``."""
    owner = getattr(resolve, "__self__", None)
    return owner.resolution if type(owner) is _Constant else None


# --- flags --------------------------------------------------------------------------------


def compile_static(
    key: str, value: Any, source: str | None = None, shared: Shared | None = None
) -> CompiledFlag:
    """A flag that serves ``value`` to everyone (reason STATIC).

    ``shared``: the compiling document's table, so equal static flags share their parts.
    """
    if isinstance(value, bool):
        variant = "on" if value else "off"
        variants: Mapping[str, Any] = BOOLEAN_VARIANTS
    else:
        variant = str(value)
        variants = {variant: value}
        if shared is not None:
            variants = shared.setdefault(("variants", canonical(variants)), variants)
            variant = next(iter(variants))
    return constant_flag(key, value, variant, variants, Reason.STATIC, source, shared)


def constant_flag(
    key: str,
    value: Any,
    variant: str,
    variants: Mapping[str, Any],
    reason: Reason,
    source: str | None = None,
    shared: Shared | None = None,
) -> CompiledFlag:
    """A flag that serves ``value`` (as ``variant``) to everyone with ``reason``.

    ``shared``: the compiling document's table, so equal constant flags share their resolver.
    """
    resolution: Resolution = (value, variant, reason, None)
    fingerprint = (str(reason), variant, type(value).__name__, repr(value))
    mutable = isinstance(value, CONTAINERS)
    if shared is not None and not mutable:
        known = shared.get(("constant", fingerprint))
        if known is not None:
            resolver, fingerprint = known
        else:
            resolver = constant_resolver(resolution)
            shared[("constant", fingerprint)] = (resolver, fingerprint)
    else:
        resolver = constant_resolver(resolution)
        if mutable:
            resolver = fresh_copies(resolver)
    return CompiledFlag(
        key=key,
        resolve=resolver,
        variants=read_only_variants(variants, shared),
        default_variant=variant,
        spec=None,
        fingerprint=fingerprint,
        source=source,
    )


def _copy(value: Any) -> Any:
    if type(value) is dict:
        return {key: _copy(item) for key, item in value.items()}
    if type(value) is list:
        return [_copy(item) for item in value]
    return value


def fresh_copies(resolver: Resolver) -> Resolver:
    """Serve a fresh copy of dict/list values, so a caller mutating the value it got (say,
    ``get_value("cfg", {})["limits"].append(1)``) cannot change the flag for everyone.
    Applied only to flags that have such values; scalars are immutable and shared."""

    def fresh(ctx: Mapping[str, Any], table: Mapping[str, Any]) -> Resolution:
        resolution = resolver(ctx, table)
        value = resolution[0]
        if type(value) is dict or type(value) is list:
            return (_copy(value), resolution[1], resolution[2], resolution[3])
        return resolution

    return fresh
