"""pytest plugin (registered through the ``pytest11`` entry point).

Fixtures are added by :mod:`flagkit.testing` (see docs/testing.md).
"""
