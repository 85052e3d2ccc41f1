"""pytest plugin, registered through the ``pytest11`` entry point (no conftest needed).

Fixtures:

``flagkit_overrides``
    A :class:`flagkit.testing.FlagOverrides`: ``flagkit_overrides.set("key", value)`` serves
    ``value`` until the end of the test. It overrides the module-level default client
    (:func:`flagkit.configure`) unless ``flagkit_overrides.use(flags)`` names another one::

        def test_new_checkout(flagkit_overrides):
            flagkit_overrides.set("new_checkout", True)
            assert flagkit.is_enabled("new_checkout")

        def test_with_my_client(flagkit_overrides, my_flags):
            flagkit_overrides.use(my_flags).set("new_checkout", True)

A project with its own client usually wraps it once in its conftest.py::

    @pytest.fixture
    def flag_overrides(flagkit_overrides):
        return flagkit_overrides.use(myapp.flags)

This module is imported by every pytest run in an environment where flagkit is installed,
so it imports flagkit itself only when a fixture is used.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from flagkit.testing import FlagOverrides

__all__ = ["flagkit_overrides"]


@pytest.fixture
def flagkit_overrides() -> Iterator[FlagOverrides]:
    """Flag overrides for one test, undone afterwards (see :class:`flagkit.testing.FlagOverrides`)."""
    from flagkit.testing import FlagOverrides

    overrides = FlagOverrides()
    try:
        yield overrides
    finally:
        overrides.clear()
