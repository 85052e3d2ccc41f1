"""Networks: ``in_cidr`` (the attribute is an IPv4/IPv6 address inside one of the networks,
parsed at load into integer ranges)."""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

from ._base import OperandError, ValuePredicate

__all__ = ["in_cidr"]

_MAX_ADDRESS = 64
_inet_pton = socket.inet_pton
_AF_INET = socket.AF_INET


def in_cidr(operand: Any) -> ValuePredicate:
    """``in_cidr: "10.0.0.0/8"`` or a list: the attribute is an address inside any network.

    A bare address (``"127.0.0.1"``) is a one-address network. An address matches the
    networks of its own family; an IPv4-mapped IPv6 address (``::ffff:10.1.2.3``, what a
    dual-stack socket reports for an IPv4 client) is also its IPv4 address, so it matches the
    IPv6 networks containing it (``::/0``, ``::ffff:0:0/96``) and the IPv4 networks containing
    ``10.1.2.3``. A plain IPv4 address does not match IPv6 networks. Networks are ranges of
    integers, so a check is one parse of the attribute plus comparisons.
    """
    items = operand if isinstance(operand, list) else [operand]
    if not items or not all(isinstance(x, str) for x in items):
        raise OperandError("expected a network (`10.0.0.0/8`, `2001:db8::/32`) or a list of them")
    ranges: dict[int, list[tuple[int, int]]] = {4: [], 6: []}
    for item in items:
        try:
            net = ipaddress.ip_network(item.strip(), strict=False)
        except ValueError:
            raise OperandError(f"{item!r} is not an IP address or CIDR network") from None
        ranges[net.version].append((int(net.network_address), int(net.broadcast_address)))
    v4, v6 = tuple(ranges[4]), tuple(ranges[6])
    address = ipaddress.ip_address
    ipv4 = _ipv4

    def pred(v: Any) -> bool:
        if type(v) is not str or len(v) > _MAX_ADDRESS:
            return False
        if ":" not in v:  # the common case, without building an ipaddress object
            n = ipv4(v)
            return n is not None and any(lo <= n <= hi for lo, hi in v4)
        try:
            addr = address(v)
        except ValueError:
            return False
        n = int(addr)  # an IPv6 address: IPv4 text has no ":"
        if any(lo <= n <= hi for lo, hi in v6):
            return True
        mapped = addr.ipv4_mapped if isinstance(addr, ipaddress.IPv6Address) else None
        if mapped is None:
            return False
        n = int(mapped)
        return any(lo <= n <= hi for lo, hi in v4)

    return pred


def _ipv4(text: str) -> int | None:
    """A dotted-quad IPv4 address as an integer (four decimal parts of 0-255 without leading
    zeros, as ``ipaddress`` accepts; a test holds the two in agreement); ``None`` otherwise."""
    try:
        return int.from_bytes(_inet_pton(_AF_INET, text), "big")
    except (OSError, ValueError):  # ValueError: NUL or non-ASCII text
        return None
