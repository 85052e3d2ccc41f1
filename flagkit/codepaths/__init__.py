"""Switch code paths on flags: ``when`` and ``variants`` decorators.

Both evaluate the flag on every call (never at import time), keep the wrapped function's
name, docstring and signature, and work on plain functions, methods and ``async def``
functions (the awaited result is switched, not the coroutine object).

The context of each evaluation is the ambient context (``flagkit.context(...)`` or the web
middleware), with the decorator's ``context`` merged over it key by key. ``context`` is a
mapping, or a callable that receives the call's arguments and returns one, so the flag can
follow the function's own arguments::

    @flags.when("new_checkout", otherwise=old_checkout, context=lambda cart: {"user_id": cart.user_id})
    def new_checkout(cart): ...

The implementation lives in submodules; this facade exports exactly ``__all__``
(``tests/test_public_api.py`` holds it to that).
"""

from .._client.shapes import CallContext, OptionalSwitch, Switch, VariantDispatcher
from . import _registration  # noqa: F401 - importing it fills the client's code-path slot
from .switches import SupportsEvaluation, variants, when

__all__ = [
    "CallContext",
    "OptionalSwitch",
    "SupportsEvaluation",
    "Switch",
    "VariantDispatcher",
    "variants",
    "when",
]
