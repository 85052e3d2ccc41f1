"""Test helpers: serve fixed flag values while a test runs.

:func:`override_flags` works as a context manager, as a decorator on test functions (sync or
``async def``) and on test classes. The pytest fixture ``flagkit_overrides`` (see
:mod:`flagkit.testing.pytest_plugin`) does the same from inside a test.

Overrides sit on top of every provider of one client: they win over the flag file, apply to
evaluations from every thread while active, nest (the inner value wins, leaving the block
restores the outer one), are undone even when the block raises, and may name flags that no
provider defines yet. Evaluations of an overridden flag report reason ``OVERRIDE``.

Overrides of the module-level default client (no client named) follow
:func:`flagkit.configure`: made before the application configures its client (a decorator on
a test, the fixture before a FastAPI lifespan runs), they move to the client it installs.

The implementation lives in private modules; this facade exports exactly ``__all__``
(``tests/test_public_api.py`` holds it to that).
"""

from .._exports import publish as _publish
from ._overrides import FlagOverrides, override_flags

__all__ = ["FlagOverrides", "override_flags"]

for _name in __all__:
    _publish(globals()[_name], __name__)
del _name
