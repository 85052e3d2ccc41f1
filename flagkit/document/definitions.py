"""What a loaded flag set keeps of its definitions: compact bytes, re-validated on demand.

Evaluation needs only the compiled resolvers. The validated pydantic models (~1.7 KB per
flag) and the parsed document are dropped once a document is compiled; each flag with a
definition keeps a :class:`FlagSpec` instead: its mapping as written, marshalled into one
bytes object (~160 bytes), plus the two switches the client reads when it publishes a
snapshot (``track``, ``client``). Tools that need a definition (``explain``, ``lint``, the
status page, the CLI) get it re-validated from those bytes: :attr:`CompiledFlag.definition
<flagkit._engine.compiled.CompiledFlag.definition>` costs ~6 µs a flag, and :attr:`FlagSet.document
<flagkit.flagset.FlagSet.document>` one validation of the whole document. Both are cached
only while the caller holds the result (a weak reference), so a long-running process that
renders a status page once does not keep the models from then on.

Values ``marshal`` cannot write (Python objects given to ``FlagSet.from_dict``) make the
flag keep its validated model instead, as before.
"""

from __future__ import annotations

import copy
import marshal
import weakref
from collections.abc import Mapping
from typing import Any

from ..errors import ConfigError
from .schema import FlagDefinition, FlagDocument
from .validation import validate_document

__all__ = ["DocumentSpec", "FlagSpec", "pack", "thawed", "unpack"]


class _Kept:
    """A value marshal cannot write, kept as it is."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


Packed = bytes | _Kept


def pack(value: Any) -> Packed:
    """``value`` as compact bytes, or a copy kept as it is when it holds what marshal cannot
    write (a date, a Mapping that is not a dict, any object: ``from_dict`` data)."""
    try:
        return marshal.dumps(value)
    except ValueError:
        pass
    try:
        return _Kept(copy.deepcopy(value))
    except Exception:  # an object that cannot be copied: the caller's own, then
        return _Kept(value)


def unpack(packed: Packed) -> Any:
    """A fresh copy of what :func:`pack` was given (the same object when it was kept)."""
    if type(packed) is bytes:
        return marshal.loads(packed)
    assert isinstance(packed, _Kept)
    return packed.value


class FlagSpec:
    """The definition of one compiled flag, kept compactly (see the module docstring).

    It is also the flag's fingerprint: two specs are equal when their definitions and the
    segments they use are equal (bytes compared first; validated models when the bytes differ,
    so the same definition written in another order or format still counts as unchanged).

    Attributes:
        track: The definition's ``track`` (exposures are recorded).
        client: The definition's ``client`` (part of ``Flags.bootstrap()``).
    """

    __slots__ = ("_cache", "_data", "_segments", "client", "track")

    def __init__(
        self, data: Packed | FlagDefinition, segments: tuple[Packed, ...], *, track: bool, client: bool
    ) -> None:
        self._data = data
        self._segments = segments
        self._cache: weakref.ref[FlagDefinition] | None = None
        self.track = track
        self.client = client

    @classmethod
    def of(cls, model: FlagDefinition, raw: Any = None, segments: tuple[Packed, ...] = ()) -> FlagSpec:
        """The spec of ``model``, validated from ``raw`` (kept as bytes when given; otherwise the
        model itself is kept). ``segments``: the packed conditions of the segments it uses."""
        data: Packed | FlagDefinition = model
        if raw is not None:
            packed = pack(raw)
            if type(packed) is bytes:
                data = packed
        return cls(data, segments, track=model.track, client=model.client)

    def raw(self) -> Any:
        """The definition as written (a fresh mapping), or the model when that is what is kept."""
        data = self._data
        return data if isinstance(data, FlagDefinition) else unpack(data)

    def definition(self) -> FlagDefinition:
        """The validated definition (re-validated unless the last one is still in use)."""
        data = self._data
        if isinstance(data, FlagDefinition):
            return data
        cached = self._cache() if self._cache is not None else None
        if cached is None:
            cached = FlagDefinition.model_validate(unpack(data))
            self._cache = weakref.ref(cached)
        return cached

    def segments(self) -> tuple[Any, ...]:
        """The conditions of the segments the flag uses (fresh copies)."""
        return tuple(unpack(s) for s in self._segments)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FlagSpec):
            return NotImplemented
        if self is other or (self._data == other._data and self._segments == other._segments):
            return True
        return self.definition() == other.definition() and self.segments() == other.segments()

    __hash__ = None  # type: ignore[assignment]  # equality is by value; definitions are mutable models

    def __repr__(self) -> str:
        return f"<FlagSpec {len(self._data) if type(self._data) is bytes else 'model'} bytes>"


class DocumentSpec:
    """What a flag set keeps of its document besides the flags: the top-level fields other
    than ``features`` (``$schema``, ``version``, ``options``, ``segments``), packed.

    Attributes:
        version: The document's top-level ``version``.
        numeric_strings: The document's ``options.numeric_strings``.
    """

    __slots__ = ("_data", "numeric_strings", "source", "version")

    def __init__(self, raw: Mapping[str, Any], document: FlagDocument, source: str | None) -> None:
        self._data = pack({key: value for key, value in raw.items() if key != "features"})
        self.version = document.version
        self.numeric_strings = document.options.numeric_strings
        self.source = source

    def segments(self) -> dict[str, Any]:
        """Segment name → condition, as written (fresh copies)."""
        segments = unpack(self._data).get("segments")
        return dict(segments) if isinstance(segments, Mapping) else {}

    def document(self, flags: Mapping[str, Any]) -> FlagDocument:
        """The validated document of ``flags`` (their definitions, or values for static flags).

        Raises:
            ConfigError: The flags are not those this document was compiled into (say, a
                ``FlagSet`` rebuilt with other flags) and do not validate.
        """
        features: dict[str, Any] = {}
        for key, flag in flags.items():
            spec = flag.spec
            features[key] = (
                spec.raw() if spec is not None else thawed(flag.variants.get(flag.default_variant))
            )
        doc = {**unpack(self._data), "features": features}
        validated = validate_document(doc, self.source)
        if isinstance(validated, list):
            raise ConfigError(validated, self.source)
        return validated

    def __repr__(self) -> str:
        return f"<DocumentSpec version={self.version!r}>"


def thawed(value: Any) -> Any:
    """A plain, private copy of a variant value taken from :attr:`CompiledFlag.variants`.

    Read-only variants are ``dict``/``list`` subclasses (see :mod:`flagkit._engine.compiled`); this
    lives with the definitions, below the engine, because re-deriving a document needs it too.
    """
    if isinstance(value, dict):
        return {key: thawed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [thawed(item) for item in value]
    if type(value) is tuple:
        return tuple(thawed(item) for item in value)
    return value
