"""Django integration: ``INSTALLED_APPS += ["flagkit.integrations.django"]``.

What it gives (see docs/integrations.md):

* settings funnel ``settings.FLAGKIT`` (:mod:`.conf`, every default in one place);
* :class:`~flagkit.integrations.django.middleware.FlagkitMiddleware`: per-request context
  (``user_id``, ``ip``, ``path``, ``method`` plus ``FLAGKIT["CONTEXT"]``), a pinned flag
  snapshot per request, and ``request.flags`` (typed: :func:`flags_of` / :class:`FlagsRequest`);
* ``{% load flagkit %}``: ``{% flag "key" %}…{% else %}…{% endflag %}``, ``{% flag_value %}``,
  ``{% flag_variant %}`` and the ``flag_enabled`` filter;
* :func:`~flagkit.integrations.django.decorators.flag_required` for views (404 or redirect);
* system checks (``manage.py check``) reporting an invalid flag file or setting.

Import the pieces from their modules (``.middleware``, ``.decorators``); :func:`get_flags`
returns the client the integration uses, :func:`flags_of` the client of a request.
"""

from __future__ import annotations

from .flags import FlagsRequest, flags_of, get_flags

__all__ = ["FlagsRequest", "flags_of", "get_flags"]
