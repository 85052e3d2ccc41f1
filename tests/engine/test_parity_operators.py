"""Operators added for semantics parity, checked against the other systems' published cases.

Sources (read, not copied; each vector names where it comes from):
- Unleash client-specification, specifications/13-constraint-operators.json (F5 numbers, F7 dates)
  and specifications/22-cidr-constraint-operators.json (IN_CIDR).
- RFC 3339 §5.8 (date-time examples) and §5.6 (grammar) for date parsing.
- LaunchDarkly's documented operator semantics ("before"/"after" are strict; a clause on an
  array attribute matches when any element matches).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from typing import Any

import pytest

from flagkit import ConfigError, Flags, flagset
from flagkit._engine.operators import OperandError, make_operator, parse_rfc3339
from flagkit._engine.operators.comparison import parse_number


def flag(when: dict[str, Any], **doc: Any) -> Flags:
    return Flags.from_dict({"features": {"f": {"rules": [{"when": when, "serve": "on"}]}}, **doc})


# --- dates ---------------------------------------------------------------------------------

# Unleash 13-constraint-operators, F7.dateAfter / F7.dateBefore on "2022-01-29T13:00:00.000Z":
# "DATE_AFTER is exclusive of date parameter", "DATE_BEFORE is exclusive of date parameter".
UNLEASH_DATES = [
    ("after", "2022-01-30T13:00:00.000Z", True),
    ("after", "2022-01-28T13:00:00.000Z", False),
    ("after", "2022-01-29T13:00:00.000Z", False),
    ("before", "2022-01-28T13:00:00.000Z", True),
    ("before", "2022-01-30T13:00:00.000Z", False),
    ("before", "2022-01-29T13:00:00.000Z", False),
    ("at_or_after", "2022-01-29T13:00:00.000Z", True),  # flagkit's inclusive words
    ("at_or_before", "2022-01-29T13:00:00.000Z", True),
]


@pytest.mark.parametrize(("op", "current_time", "expected"), UNLEASH_DATES)
def test_unleash_date_vectors(op: str, current_time: str, expected: bool) -> None:
    flags = flag({"currentTime": {op: "2022-01-29T13:00:00.000Z"}})
    assert flags.is_enabled("f", {"currentTime": current_time}) is expected


def test_unleash_date_with_timezone() -> None:
    # Unleash F7.date-with-timezone: after 13:00+02:00 and before 14:00+02:00 holds 11:30Z.
    flags = flag(
        {"currentTime": {"after": "2022-01-22T13:00:00.000+02:00", "before": "2022-01-22T14:00:00.000+02:00"}}
    )
    assert flags.is_enabled("f", {"currentTime": "2022-01-22T11:30:00.000Z"}) is True
    assert flags.is_enabled("f", {"currentTime": "2022-01-22T12:30:00.000Z"}) is False


# RFC 3339 §5.8 examples, with their instants in epoch seconds.
RFC3339_EXAMPLES = [
    ("1985-04-12T23:20:50.52Z", 482196050.52),
    ("1996-12-19T16:39:57-08:00", 851042397.0),
    ("1990-12-31T23:59:60Z", 662688000.0),  # leap second: the instant after 23:59:59
    ("1990-12-31T15:59:60-08:00", 662688000.0),
    ("1937-01-01T12:00:27.87+00:20", -1041337172.13),
    ("2026-01-31", 1769817600.0),  # full-date: midnight UTC
    ("2026-01-31t10:00:00z", 1769853600.0),  # "T" and "Z" may be lower case (§5.6 note)
]


@pytest.mark.parametrize(("text", "epoch"), RFC3339_EXAMPLES)
def test_rfc3339_examples(text: str, epoch: float) -> None:
    assert parse_rfc3339(text) == pytest.approx(epoch, abs=1e-6)


@pytest.mark.parametrize(
    "text",
    [
        "2017-12-06X00:00",  # what fromisoformat accepted before
        "2026-01-31T10:00:00",  # no offset
        "2026-01-31T10:00Z",  # no seconds
        "2026-01-31 10:00:00Z",  # space separator
        "20260131T100000Z",  # basic format
        "2026-W05-6",  # week date
        "2026-031",  # ordinal date
        "2026-02-30",  # no such day
        "2026-01-31T24:00:00Z",
        "2026-01-31T10:60:00Z",
        "2026-01-31T10:00:61Z",
        "2026-01-31T10:00:00+24:00",
        "2026-01-31T10:00:00.Z",
        "2026-01-31T10:00:00.1234567890Z",
        "٢٠٢٦-01-31",  # non-ASCII digits
        " 2026-01-31",
        "2026-01-31\n",
    ],
)
def test_rfc3339_refusals(text: str) -> None:
    assert parse_rfc3339(text) is None
    assert make_operator("after", "2000-01-01")(text) is False
    assert make_operator("before", "2100-01-01")(text) is False


def test_operands_must_be_rfc3339() -> None:
    with pytest.raises(OperandError, match="RFC 3339"):
        make_operator("after", "2026-01-31T10:00:00")
    with pytest.raises(ConfigError, match=r"rules\[0\]\.when\.d\.before.*RFC 3339"):
        flag({"d": {"before": "2017-12-06X00:00"}})


def test_now_as_operand_compares_an_attribute_with_the_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(flagset, "now", lambda: dt.datetime(2030, 1, 15, tzinfo=dt.UTC).timestamp())
    flags = flag({"trial_ends_at": {"after": "now"}})  # "the trial has not ended yet"
    assert flags.is_enabled("f", {"trial_ends_at": "2030-01-16T00:00:00Z"}) is True
    assert flags.is_enabled("f", {"trial_ends_at": "2030-01-15T00:00:00Z"}) is False
    assert flags.is_enabled("f", {"trial_ends_at": "2030-01-15"}) is False
    assert flags.is_enabled("f", {}) is False
    ended = flag({"trial_ends_at": {"at_or_before": "now"}})
    assert ended.is_enabled("f", {"trial_ends_at": dt.datetime(2030, 1, 15, tzinfo=dt.UTC)}) is True
    assert ended.is_enabled("f", {"trial_ends_at": "2030-01-16T00:00:00Z"}) is False


# --- numeric strings -------------------------------------------------------------------------

# Unleash 13-constraint-operators F5/F6: contexts carry numbers as strings.
UNLEASH_NUMBERS = [
    ({"eq": 12}, "12", True),
    ({"eq": 12}, "12.0", True),  # "F5.numEq works for floats"
    ({"eq": 12.0}, "12", True),  # "F5.numEq.float works for integers"
    ({"ne": 12}, "12", False),  # F5.numEq.inverted
    ({"ne": 12}, "13", True),
    ({"gt": 12}, "13", True),
    ({"gt": 12}, "12", False),
    ({"gte": 12}, "12", True),
    ({"gte": 12}, "13", True),
    ({"gte": 12}, "11", False),
    ({"lte": 12}, "13", False),
    ({"lte": 12}, "12", True),
    ({"lte": 12}, "0", True),
    ({"lt": 12}, "0", True),
    ({"lt": 12}, "12", False),
    ({"gt": 12, "lt": 16}, "11", False),  # F6.number-range
    ({"gt": 12, "lt": 16}, "14", True),
]


@pytest.mark.parametrize(("cond", "value", "expected"), UNLEASH_NUMBERS)
def test_unleash_numeric_string_vectors(cond: dict[str, Any], value: str, expected: bool) -> None:
    flags = flag({"someValue": cond}, options={"numeric_strings": True})
    assert flags.is_enabled("f", {"someValue": value}) is expected


def test_numeric_strings_are_off_by_default() -> None:
    flags = flag({"someValue": {"gt": 12}})
    assert flags.is_enabled("f", {"someValue": "13"}) is False
    assert flags.is_enabled("f", {"someValue": 13}) is True


def test_numeric_strings_reach_segments_lists_and_any_element() -> None:
    doc = {
        "options": {"numeric_strings": True},
        "segments": {"adults": {"age": {"gte": 18}}},
        "features": {
            "seg": {"rules": [{"when": {"segment": "adults"}, "serve": "on"}]},
            "tiers": {"rules": [{"when": {"tier": [1, 2]}, "serve": "on"}]},
            "scores": {"rules": [{"when": {"scores": {"any_element": {"gt": 90}}}, "serve": "on"}]},
            "text": {"rules": [{"when": {"code": {"eq": "007"}}, "serve": "on"}]},
        },
    }
    flags = Flags.from_dict(doc)
    assert flags.is_enabled("seg", {"age": "18"}) is True
    assert flags.is_enabled("seg", {"age": "17.5"}) is False
    assert flags.is_enabled("tiers", {"tier": "2"}) is True
    assert flags.is_enabled("tiers", {"tier": "3"}) is False
    assert flags.is_enabled("scores", {"scores": ["12", "91"]}) is True
    assert flags.is_enabled("text", {"code": "007"}) is True  # string operands still compare strings
    assert flags.is_enabled("text", {"code": "7"}) is False


@pytest.mark.parametrize(
    ("text", "number"),
    [("12", 12), ("-3", -3), ("+4", 4), ("12.0", 12.0), (".5", 0.5), ("1e3", 1000.0), ("-1.5E-2", -0.015)],
)
def test_parse_number(text: str, number: float) -> None:
    assert parse_number(text) == number


@pytest.mark.parametrize(
    "text", ["", " 12", "12 ", "12abc", "0x10", "nan", "inf", "1e999", "1_000", "٣", "9" * 65]
)
def test_parse_number_refuses(text: str) -> None:
    assert parse_number(text) is None


# --- CIDR ----------------------------------------------------------------------------------

# Unleash 22-cidr-constraint-operators: (networks, remoteAddress, expected).
UNLEASH_CIDR: list[tuple[list[str], Any, bool]] = [
    (["127.0.0.1"], "127.0.0.1", True),  # "Exact IP match should be enabled"
    (["127.0.0.1"], "127.0.0.2", False),
    (["160.33.0.0/16"], "160.33.0.33", True),
    (["160.33.0.0/16"], "160.34.0.1", False),
    (["160.33.0.0/16"], None, False),  # "Missing remoteAddress should not match"
    (["2001:db8::1"], "2001:db8::1", True),
    (["2001:db8::1"], "2001:db8::2", False),
    (["2001:db8::/32"], "2001:db8:0:1::42", True),
    (["2001:db8::/32"], "2001:db9::1", False),
    (["192.168.1.0/24"], "192.168.1.42", True),  # CIDR.mixed.values, without the invalid entry
    (["2001:db8::/32"], "2001:db8::abcd", True),
]


@pytest.mark.parametrize(("networks", "address", "expected"), UNLEASH_CIDR)
def test_unleash_cidr_vectors(networks: list[str], address: Any, expected: bool) -> None:
    flags = flag({"remoteAddress": {"in_cidr": networks}})
    context = {} if address is None else {"remoteAddress": address}
    assert flags.is_enabled("f", context) is expected


def test_cidr_details() -> None:
    check = make_operator("in_cidr", ["10.0.0.0/8", "fd00::/8"])
    assert check("10.255.255.255") is True
    assert check("::ffff:10.1.2.3") is True  # IPv4-mapped IPv6 matches the IPv4 network
    assert check("fd12::1") is True
    assert check("11.0.0.0") is False
    for junk in ["10.0.0", "10.0.0.0/8", "", 167772161, None, ["10.0.0.1"], "x" * 100]:
        assert check(junk) is False
    assert make_operator("in_cidr", "192.168.1.5/24")("192.168.1.200") is True  # host bits ignored


MAPPED = "::ffff:10.1.2.3"  # what a dual-stack socket reports for the IPv4 client 10.1.2.3


@pytest.mark.parametrize(
    ("networks", "address", "expected"),
    [
        (["10.0.0.0/8"], "10.1.2.3", True),
        (["10.0.0.0/8"], MAPPED, True),  # the mapped address is its IPv4 address
        (["11.0.0.0/8"], MAPPED, False),
        (["::/0"], MAPPED, True),  # ... and an IPv6 address, inside the IPv6 networks holding it
        (["::ffff:0:0/96"], MAPPED, True),
        (["::ffff:10.0.0.0/104"], MAPPED, True),
        (["::ffff:11.0.0.0/104"], MAPPED, False),
        (["2001:db8::/32"], MAPPED, False),
        (["::/0"], "2001:db8::1", True),
        (["::/0"], "10.1.2.3", False),  # a plain IPv4 address matches IPv4 networks only
        (["::ffff:0:0/96"], "10.1.2.3", False),
        (["0.0.0.0/0"], "2001:db8::1", False),
        (["0.0.0.0/0"], "::10.1.2.3", False),  # IPv4-compatible (deprecated), not mapped
        (["2001:db8::/32"], "2001:db8::1%eth0", True),  # a scope id does not change the address
    ],
)
def test_cidr_ipv4_mapped_addresses(networks: list[str], address: str, expected: bool) -> None:
    assert make_operator("in_cidr", networks)(address) is expected
    network_says = any(ipaddress.ip_address(address) in ipaddress.ip_network(n) for n in networks)
    if network_says:  # whatever ipaddress says is inside, matches
        assert expected


def test_cidr_agrees_with_ipaddress() -> None:
    # in_cidr(net)(addr) is "ipaddress says addr is in net", or, for an IPv4-mapped addr, its
    # IPv4 address is; over networks and addresses around the IPv4-mapped range's edges.
    nets = ["0.0.0.0/0", "10.0.0.0/8", "10.1.2.3", "::/0", "::ffff:0:0/96", "::ffff:10.0.0.0/104"]
    nets += ["::fffe:0:0/96", "2001:db8::/32", "::/96", "::fffe:0:0/95", "fe80::/10"]
    addrs = ["10.1.2.3", "11.0.0.1", "0.0.0.0", "255.255.255.255", "::ffff:10.1.2.3", "::ffff:0.0.0.0"]
    addrs += ["::ffff:255.255.255.255", "::fffe:ffff:ffff", "::1:0:0:0", "::10.1.2.3", "2001:db8::1"]
    addrs += ["::", "::1", "fe80::1%eth0", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"]
    for net in nets:
        network = ipaddress.ip_network(net)
        check = make_operator("in_cidr", net)
        for text in addrs:
            addr = ipaddress.ip_address(text)
            mapped = addr.ipv4_mapped if isinstance(addr, ipaddress.IPv6Address) else None
            expected = addr in network or (mapped is not None and mapped in network)
            assert check(text) is expected, (net, text)


@pytest.mark.parametrize(
    "junk",
    [
        "",
        ":",
        "::ffff:",
        "::ffff:999.1.2.3",
        "1:2:3:4:5:6:7:8:9",
        "fe80::1%",
        "::ffff:10.1.2.3 ",
        " 10.1.2.3",
        "10.1.2.3/8",
        "::ffff:10.1.2.3/128",
        "zz::1",
        "1.2.3.4.5",
        "10.1.2.3\x00",
        "\u0661\u0660.1.2.3",  # Arabic-Indic digits: int() reads them, an address may not
        ":" * 64,
        "f" * 65,
        b"10.1.2.3",
        167772161,
        1.5,
        None,
        ["::1"],
        {"ip": "::1"},
    ],
)
def test_cidr_never_raises_and_garbage_never_matches(junk: Any) -> None:
    check = make_operator("in_cidr", ["0.0.0.0/0", "::/0"])
    assert check(junk) is False


def test_invalid_networks_are_load_errors() -> None:
    # Unleash ignores "127.invalid" (CIDR.mixed.values); flagkit refuses the file instead, so a
    # typo cannot silently narrow an allow-list.
    with pytest.raises(ConfigError, match=r"in_cidr.*'127\.invalid' is not an IP address"):
        flag({"remoteAddress": {"in_cidr": ["127.invalid", "192.168.1.0/24"]}})
    with pytest.raises(OperandError, match="network"):
        make_operator("in_cidr", [])


# --- any element of a list ------------------------------------------------------------------


def test_any_element() -> None:
    # LaunchDarkly: a clause on an array attribute matches if any element matches.
    flags = flag({"roles": {"any_element": "b"}})
    assert flags.is_enabled("f", {"roles": ["a", "b"]}) is True
    assert flags.is_enabled("f", {"roles": ["a", "c"]}) is False
    assert flags.is_enabled("f", {"roles": "b"}) is True  # a scalar is a one-element list
    assert flags.is_enabled("f", {"roles": []}) is False
    assert flags.is_enabled("f", {}) is False
    members = make_operator("any_element", ["admin", "owner"])
    assert members(("viewer", "owner")) is True
    assert members(["viewer"]) is False
    emails = make_operator("any_element", {"ends_with": "@corp.com", "starts_with": "a"})
    assert emails(["bob@corp.com", "ann@corp.com"]) is True
    assert emails(["bob@corp.com", "ann@home.org"]) is False
    assert make_operator("any_element", {"any_element": 1})([[0], [2, 1]]) is True
    # Plain equality still means the whole value: `roles: b` does not match ["a", "b"].
    assert flag({"roles": "b"}).is_enabled("f", {"roles": ["a", "b"]}) is False


def test_any_element_errors() -> None:
    with pytest.raises(ConfigError, match=r"any_element.*unknown operator 'bogus'"):
        flag({"roles": {"any_element": {"bogus": 1}}})
    with pytest.raises(OperandError, match="empty operator mapping"):
        make_operator("any_element", {})


def test_lint_points_at_after_with_a_bare_date() -> None:
    from flagkit import FlagSet
    from flagkit._tools.lint import lint

    text = (
        "segments:\n"
        "  launched:\n"
        "    now: {after: '2026-12-01'}\n"
        "features:\n"
        "  f:\n"
        "    rules:\n"
        "      - when:\n"
        "          any:\n"
        "            - signup: {after: '2026-01-01', before: '2027-01-01'}\n"
        "            - seen: {after: '2026-01-01T00:00:00Z'}\n"
        "            - trial_ends_at: {after: now}\n"
        "            - segment: launched\n"
        "        serve: on\n"
    )
    warnings = lint(FlagSet.from_bytes(text.encode(), source="flags.yaml"), data=text)
    assert [(w.code, w.path, w.line) for w in warnings] == [
        ("strict-after", ("segments", "launched", "now", "after"), 3),
        ("strict-after", ("features", "f", "rules", 0, "when", "any", 0, "signup", "after"), 9),
    ]
    assert "write `at_or_after`" in warnings[1].message


def test_unleash_not_in_on_a_missing_field() -> None:
    # Unleash 13-constraint-operators F8: NOT_IN on a missing (or null) field is true; flagkit's
    # `not_in` is false there, and the documented translation `not: {attr: [...]}` is true.
    assert flag({"customFieldMissing": {"not_in": ["s1"]}}).is_enabled("f", {}) is False
    translated = flag({"not": {"customFieldMissing": ["s1"]}})
    assert translated.is_enabled("f", {}) is True
    assert translated.is_enabled("f", {"customFieldMissing": None}) is True
    assert translated.is_enabled("f", {"customFieldMissing": "s1"}) is False


def test_fast_ipv4_parsing_agrees_with_ipaddress() -> None:
    import ipaddress

    from flagkit._engine.operators.network import _ipv4

    samples = ["0.0.0.0", "255.255.255.255", "10.1.2.3", "01.2.3.4", "1.2.3", "1.2.3.4.5", "256.1.1.1",
               "1.2.3.-4", "1.2.3.4 ", "\u0661.2.3.4", "1..3.4", "", "a.b.c.d", "1.2.3.0004",
               "1.2.3.4\x00", "+1.2.3.4", "0x1.2.3.4", "1.2.3.04"]  # fmt: skip
    for text in samples:
        try:
            expected: int | None = int(ipaddress.IPv4Address(text))
        except ValueError:
            expected = None
        assert _ipv4(text) == expected, text


def test_rfc3339_arithmetic_agrees_with_datetime() -> None:
    for year in (1, 1600, 1900, 1969, 1970, 2000, 2024, 2100, 9999):
        for month, day in ((1, 1), (2, 28), (2, 29), (3, 1), (12, 31)):
            text = f"{year:04d}-{month:02d}-{day:02d}T12:34:56Z"
            try:
                expected: float | None = dt.datetime(year, month, day, 12, 34, 56, tzinfo=dt.UTC).timestamp()
            except ValueError:
                expected = None
            assert parse_rfc3339(text) == expected, text
