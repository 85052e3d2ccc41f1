"""A snapshot in which some flags serve a chosen variant: a tester's QA overrides.

Unlike :func:`flagkit.testing.override_flags` (a layer on the client, for every caller), a
forced snapshot is pinned for one block (one request) only, so the tester's choice never
reaches anyone else. Forced flags report :attr:`~flagkit.Reason.QA_OVERRIDE`, are not counted
in usage or exposures and run no hooks (a tester's clicks are not the product's traffic).
"""

from __future__ import annotations

from collections.abc import Mapping

from .._engine.compiler import constant_flag
from ..evaluation import Reason
from .snapshot import Snapshot

__all__ = ["forced_snapshot"]

SOURCE = "qa"
"""``Snapshot.providers`` value (and the flag's ``source``) of a forced flag."""


def forced_snapshot(snap: Snapshot, forced: Mapping[str, str]) -> Snapshot:
    """``snap`` with each ``key → variant`` of ``forced`` served as a constant.

    Keys the snapshot does not define and variants the flag does not have are ignored;
    with nothing to force, ``snap`` itself is returned.
    """
    flags = dict(snap.flags)
    table = dict(snap.table)
    providers = dict(snap.providers)
    changed = False
    for key, variant in forced.items():
        flag = flags.get(key)
        if flag is None or variant not in flag.variants:
            continue
        flags[key] = constant_flag(
            key, flag.variants[variant], variant, flag.variants, Reason.QA_OVERRIDE, SOURCE
        )
        table[key] = flags[key].resolve
        providers[key] = SOURCE
        changed = True
    if not changed:
        return snap
    # No hook runner: the other flags' usage observers stay in their (wrapped) resolvers.
    return Snapshot(table, flags, snap.generation, providers, None)
