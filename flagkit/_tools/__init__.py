"""Library tools shared by the ``flagkit`` command and the status page: explain, lint, check.

They sit below the client in the layer order: they read flag sets, compiled flags and
documents, never a :class:`~flagkit.Flags` (which calls :func:`explain.explain` for
:meth:`~flagkit.Flags.explain`).

* :mod:`.explain` — the step-by-step trace of one evaluation (:class:`.trace.Explanation`);
* :mod:`.render` — that trace as text;
* :mod:`.lint` — warnings about valid flag files;
* :mod:`.check` — every error of a document, then the lint warnings;
* :mod:`.values` — text typed by a person (``-c attr=value``, the status page's form) as values.
"""

from __future__ import annotations

from .trace import Explanation

__all__ = ["Explanation"]
