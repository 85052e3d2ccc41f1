"""``flagkit set``, ``kill``, ``revive`` and ``rollout``: change one flag in a file, in place.

Only the characters of the values that change are rewritten (see :mod:`._spans`); the result
is checked with flagkit's loader and written atomically (see :mod:`._editing`, :mod:`._write`).

- ``set FILE KEY VALUE``: a static flag gets the new value (same kind: boolean, number or
  string, unless ``--force``); a full flag gets ``default: VALUE``, VALUE being a variant name
  (``true``/``false`` mean ``on``/``off`` for boolean flags).
- ``kill FILE KEY`` / ``revive FILE KEY``: ``enabled: false`` / ``enabled: true``. A killed
  flag is *switched off* (:func:`flagkit._engine.compiler.off_variant_name`): its ``off_variant``,
  else its false variant (a boolean flag is off), else its default. ``kill`` says which, and
  refuses a flag whose switched-off value is not an obvious "off" (a truthy default, no
  ``off_variant``) unless told ``--serve VARIANT`` (written as ``off_variant``) or ``--force``.
- ``rollout FILE KEY PERCENT``: the two-variant split of a rule serves PERCENT to the
  variant that is not the default (or ``--variant``) and the rest to the other.
"""

from __future__ import annotations

import argparse
from typing import Any

from .._engine.compiler import BOOLEAN_VARIANTS, off_variant_name
from .._tools.values import parse_value
from ..evaluation import CODE_DEFAULT_NAME, Reason
from ._common import plural
from ._editing import ABSENT, Change, EditContext, EditPlan, Refused, run_edit
from ._spans import Node, SpanError, format_number, insert_key, render_scalar

__all__ = ["percent_arg", "run_kill", "run_revive", "run_rollout", "run_set"]

WEIGHT_SCALE = 1000
Edit = tuple[int, int, str]
"""``(start, end, text)``: replace ``text[start:end]`` (an insertion when start == end)."""


def percent_arg(text: str) -> float:
    """``25``, ``2.5``, ``0.001`` or ``25%``: a percentage with at most three decimals."""
    raw = text.strip().removesuffix("%").strip()
    try:
        value = float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a percentage like 25 or 2.5, got {text!r}"
            " (is PERCENT missing? the arguments are [FILE] KEY PERCENT)"
        ) from None
    if not 0 <= value <= 100:
        raise argparse.ArgumentTypeError(f"a percentage is between 0 and 100, got {text!r}")
    if abs(round(value * WEIGHT_SCALE) - value * WEIGHT_SCALE) > 1e-6:
        raise argparse.ArgumentTypeError(f"{text!r} is finer than 0.001 %")
    return round(value * WEIGHT_SCALE) / WEIGHT_SCALE


def _path(*parts: str | int) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def _scalar(node: Node, what: str) -> Node:
    if node.kind != "scalar" or node.shared:
        raise Refused(
            f"{what} is not written as a plain value here, or is shared through a YAML anchor "
            "(`&`, `*`, `<<`) with other places: edit it by hand"
        )
    return node


def _insert(ctx: EditContext, key_node: Node, mapping: Node, key: str, value: str) -> Edit:
    try:
        offset, text = insert_key(ctx.text, mapping, key, value, ctx.fmt, key_node.end)
    except SpanError as exc:
        raise Refused(f"cannot add `{key}` here ({exc}): edit it by hand") from None
    return offset, offset, text


def _with_value(ctx: EditContext, node: Node, new: str) -> Edit:
    """Replace a scalar; a block scalar (``|``, ``>``) keeps the line breaks that end it."""
    if node.style in ("|", ">"):
        span = ctx.text[node.start : node.end]
        return node.start, node.end, new + span[len(span.rstrip(" \t\r\n")) :]
    return node.start, node.end, new


def _set_field(ctx: EditContext, key: str, key_node: Node, node: Node, field: str, value: Any) -> Edit:
    """Replace ``field`` of flag ``key`` (keeping its quoting), or add it as the first key."""
    found = node.get(field)
    text = render_scalar(value, ctx.fmt, like=found[1] if found else None)
    if found is None:
        return _insert(ctx, key_node, node, field, text)
    return _with_value(ctx, _scalar(found[1], _path("features", key, field)), text)


# --- kill / revive ------------------------------------------------------------------------


def _variants_of(definition: dict[str, Any]) -> dict[str, Any]:
    variants = definition.get("variants")
    return dict(variants) if isinstance(variants, dict) else dict(BOOLEAN_VARIANTS)


def _variant_name(definition: dict[str, Any], raw: str) -> str:
    """``raw`` as a variant name of the flag (``true``/``false`` for a boolean flag's on/off)."""
    if definition.get("variants") is None and raw in ("true", "false"):
        return "on" if raw == "true" else "off"
    return raw


def _off_of(definition: dict[str, Any], default: str | None = None) -> str:
    """The variant the flag serves when switched off (:func:`flagkit._engine.compiler.off_variant_name`);
    ``default`` overrides the file's, for an edit that changes it."""
    off = definition.get("off_variant")
    return off_variant_name(
        _variants_of(definition),
        default if default is not None else _default_of(definition),
        str(off) if off is not None else None,
    )


def _served_when_off(definition: dict[str, Any], default: str | None = None) -> str:
    """What a switched-off flag serves, in words: the variant, why it is that one, its value."""
    name = _off_of(definition, default)
    if definition.get("off_variant") is not None:
        which = "the off variant"
    elif _variants_of(definition).get(name, True) is False:
        which = "the false variant"
    else:
        which = "the default variant"
    if name == CODE_DEFAULT_NAME:
        return f"the default the calling code passes ({which} is {CODE_DEFAULT_NAME})"
    return f"{which} {name!r} ({render_scalar(_variants_of(definition).get(name), 'json')})"


def _obviously_off(definition: dict[str, Any]) -> bool:
    """Whether serving the switched-off variant is plainly "off": the file names it
    (``off_variant``), or its value is false-like (``false``, ``0``, ``""``, ``null``, empty),
    or it is the caller's own default."""
    if definition.get("off_variant") is not None:
        return True
    name = _off_of(definition)
    return name == CODE_DEFAULT_NAME or not _variants_of(definition).get(name)


def _switch(enable: bool, serve: str | None = None, force: bool = False) -> Any:
    def plan(ctx: EditContext, key: str) -> EditPlan:
        key_node, node, definition = ctx.flag(key)
        if not isinstance(definition, dict):
            hint = "false" if not enable else "true"
            raise Refused(
                f"{key!r} is a static flag ({render_scalar(definition, 'json')}); only full flags have "
                f"the `enabled` switch: `flagkit set {ctx.path} {key} {hint}` changes its value"
            )
        current = definition.get("enabled", True)
        replacements: list[Edit] = []
        changes: list[Change] = []
        mutations: list[tuple[str, Any]] = []
        after = dict(definition)
        if serve is not None:
            name = _variant_name(definition, serve)
            variants = _variants_of(definition)
            if name not in variants and name != CODE_DEFAULT_NAME:
                known = ", ".join([*variants, CODE_DEFAULT_NAME])
                raise Refused(f"{serve!r} is not a variant of {key} (variants: {known})")
            if definition.get("off_variant") != name:
                replacements.append(_set_field(ctx, key, key_node, node, "off_variant", name))
                before = definition.get("off_variant", ABSENT)
                changes.append(Change(_path("features", key, "off_variant"), before, name))
                mutations.append(("off_variant", name))
                after["off_variant"] = name
        elif not enable and current is not False and not force and not _obviously_off(definition):
            choices = ", ".join([*_variants_of(definition), CODE_DEFAULT_NAME])
            raise Refused(
                f"{key} has no `off_variant` and no false variant: killed, it would serve "
                f'{_served_when_off(definition)} to everyone, which is not an obvious "off". '
                f"Say what everyone gets with --serve VARIANT ({choices}), or pass --force to "
                "serve that"
            )
        if current is not enable:
            replacements.append(_set_field(ctx, key, key_node, node, "enabled", enable))
            before = current if "enabled" in definition else ABSENT
            changes.append(Change(_path("features", key, "enabled"), before, enable))
            mutations.append(("enabled", enable))
        notes = []
        if not replacements:
            state = "enabled" if enable else "disabled (killed)"
            notes.append(f"{key} is already {state}; nothing to change")
        if not enable:
            notes.append(f"everyone now gets {_served_when_off(after)}, reason DISABLED")
            if not _obviously_off(after):
                notes.append('not an obvious "off": `--serve VARIANT` says what everyone gets instead')
        elif after.get("off_variant") is not None:  # written by the file or by `kill --serve`
            notes.append(
                f"its off_variant {str(after['off_variant'])!r} stays: a failed prerequisite or a tripped "
                f"guard (or the next kill) serves {_served_when_off(after)}"
            )

        def mutate(doc: dict[str, Any]) -> None:
            for field, value in mutations:
                doc["features"][key][field] = value

        return EditPlan(replacements, mutate if mutations else None, changes, notes)

    return plan


def _default_of(definition: dict[str, Any]) -> str:
    default = definition.get("default")
    return str(default) if default is not None else "off"


def run_kill(args: argparse.Namespace) -> int:
    plan = _switch(False, args.serve, args.force)
    return run_edit(args, "kill", lambda ctx: plan(ctx, args.key))


def run_revive(args: argparse.Namespace) -> int:
    plan = _switch(True)
    return run_edit(args, "revive", lambda ctx: plan(ctx, args.key))


# --- set ------------------------------------------------------------------------------------


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return "string" if isinstance(value, str) else type(value).__name__


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _plan_set(ctx: EditContext, key: str, raw: str, force: bool) -> EditPlan:
    key_node, node, definition = ctx.flag(key)
    path = _path("features", key)
    if not isinstance(definition, dict):
        value = parse_value(raw)
        if value == definition and type(value) is type(definition):
            return EditPlan(notes=[f"{key} is already {render_scalar(value, 'json')}; nothing to change"])
        if _kind(value) != _kind(definition) and not force:
            raise Refused(
                f"{key} is a {_kind(definition)} flag; {raw!r} is a {_kind(value)} "
                f"(code calling get_value({key!r}, <{_kind(definition)}>) would get its default). "
                "Quote a string ('\"10\"'), or pass --force to change the type"
            )
        if _integer(definition) and isinstance(value, float) and not force:
            # get_value(key, 10) serves an int flag; a float is a type mismatch (the reverse is
            # fine: an int is widened for a float default)
            raise Refused(
                f"{key} is an integer flag; {raw!r} is written as a decimal (code calling "
                f"get_value({key!r}, <int>) would get its default). Write a whole number, or pass "
                "--force to change the type"
            )
        replacement = _with_value(ctx, _scalar(node, path), render_scalar(value, ctx.fmt, like=node))

        def mutate_static(doc: dict[str, Any]) -> None:
            doc["features"][key] = value

        return EditPlan([replacement], mutate_static, [Change(path, definition, value)])
    variants = definition.get("variants")
    names = list(variants) if isinstance(variants, dict) else ["on", "off"]
    name = raw
    if variants is None and raw in ("true", "false"):
        name = "on" if raw == "true" else "off"
    if name not in names and name != CODE_DEFAULT_NAME:  # code_default: the caller's default
        matching = [n for n, v in (variants or {}).items() if v == parse_value(raw)]
        hint = f" (the variant with that value is {matching[0]!r})" if matching else ""
        raise Refused(f"{raw!r} is not a variant of {key} (variants: {', '.join(names)}){hint}")
    current = definition.get("default")
    effective = current if current is not None else ("off" if variants is None else None)
    if effective == name:
        return EditPlan(notes=[f"{key} already has default {name!r}; nothing to change"])
    replacement = _set_field(ctx, key, key_node, node, "default", name)

    def mutate(doc: dict[str, Any]) -> None:
        doc["features"][key]["default"] = name

    notes = []
    rules = definition.get("rules") or []
    killed = definition.get("enabled", True) is False
    has_off = definition.get("off_variant") is not None
    everyone = next(  # `when: null` is no condition either
        (i for i, rule in enumerate(rules) if isinstance(rule, dict) and rule.get("when") is None), None
    )
    served_off = not has_off and not any(v is False for v in _variants_of(definition).values())
    if killed:
        notes.append(f"{key} is killed: everyone now gets {_served_when_off(definition, name)}")
    elif (
        everyone is not None
        and isinstance(rules[everyone].get("serve"), dict)
        and _unplaced_get_default(ctx, key)
    ):
        label = rules[everyone].get("name") or f"rules[{everyone}]"
        notes.append(
            f"rule {label!r} has no `when`: its split serves everyone it can place before the default "
            f"is reached; only a context without the split's bucketing attribute gets {name!r}"
        )
    elif everyone is not None:
        rule = rules[everyone]
        label = rule.get("name") or f"rules[{everyone}]"
        only = "; it is served only while the flag is switched off (kill)" if served_off else ""
        notes.append(
            f"no user gets {name!r} as the default: rule {label!r} has no `when`, so it serves "
            f"everyone before the default is reached{only}"
        )
    elif rules:
        kill_hint = (
            f"it has an off_variant, so `flagkit kill` would serve {_served_when_off(definition)}"
            if has_off
            else f"switched off (`flagkit kill`), it serves {_served_when_off(definition, name)}"
        )
        tried = plural(len(rules), "rule")
        notes.append(f"{tried} tried first; {name!r} goes to everyone no rule matches ({kill_hint})")
    before = current if current is not None else ABSENT
    return EditPlan([replacement], mutate, [Change(f"{path}.default", before, name)], notes)


def _unplaced_get_default(ctx: EditContext, key: str) -> bool:
    """Whether a context without a bucketing attribute gets the flag's default: a split cannot
    place it and falls back to the default (flagd, Unleash), unless its scheme puts it in
    bucket 0 (LaunchDarkly)."""
    flags = ctx.flagset.flags
    compiled = flags.get(key)
    if compiled is None:
        return False
    try:
        _value, variant, reason, _rule = compiled.resolve({}, {k: f.resolve for k, f in flags.items()})
    except Exception:  # a tool's guess must not stop the edit
        return False
    return reason is Reason.DEFAULT and variant == compiled.default_variant


def run_set(args: argparse.Namespace) -> int:
    return run_edit(args, "set", lambda ctx: _plan_set(ctx, args.key, args.value, args.force))


# --- rollout --------------------------------------------------------------------------------


def _pick_rule(definition: dict[str, Any], key: str, wanted: str | None) -> int:
    rules = definition.get("rules") or []
    labels = [rule.get("name") or f"rules[{i}]" for i, rule in enumerate(rules)]
    if wanted is not None:
        for i, (rule, label) in enumerate(zip(rules, labels, strict=True)):
            if wanted in (label, rule.get("name"), f"rules[{i}]", str(i)):
                return i
        raise Refused(f"{key} has no rule {wanted!r} (rules: {', '.join(labels) or 'none'})")
    splits = [i for i, rule in enumerate(rules) if isinstance(rule.get("serve"), dict)]
    if not splits:
        raise Refused(
            f"{key} has no percentage split to change; add a rule like `- serve: {{on: 0, off: 100}}` first"
        )
    if len(splits) > 1:
        names = ", ".join(repr(labels[i]) for i in splits)
        raise Refused(f"{key} has {len(splits)} splits ({names}): say which with --rule NAME")
    return splits[0]


def _percent(units: int) -> int | float:
    return units // WEIGHT_SCALE if units % WEIGHT_SCALE == 0 else units / WEIGHT_SCALE


def _plan_rollout(
    ctx: EditContext, key: str, percent: float, rule_name: str | None, variant: str | None
) -> EditPlan:
    _key_node, node, definition = ctx.flag(key)
    if not isinstance(definition, dict):
        raise Refused(f"{key!r} is a static flag: it has no split to roll out")
    index = _pick_rule(definition, key, rule_name)
    rule = definition["rules"][index]
    label = rule.get("name") or f"rules[{index}]"
    serve = rule.get("serve")
    if not isinstance(serve, dict):
        raise Refused(f"rule {label!r} of {key} serves {serve!r}, not a percentage split")
    if "ramp" in rule:
        raise Refused(f"rule {label!r} of {key} is ramped: change its `ramp` (or remove it) instead")
    names = list(serve)
    if len(names) != 2:
        raise Refused(
            f"the split of rule {label!r} has {len(names)} variants ({', '.join(names)}); "
            "rollout changes two-variant splits only: set each share by hand"
        )
    default = _default_of(definition)
    if variant is not None:
        if variant not in names:
            raise Refused(f"{variant!r} is not in the split of rule {label!r} ({', '.join(names)})")
        target = variant
    elif default in names:
        target = names[1] if names[0] == default else names[0]
    elif "on" in names:
        target = "on"
    else:
        raise Refused(
            f"the split of rule {label!r} is {' / '.join(names)}: say which variant gets "
            f"{format_number(percent)} % with --variant NAME"
        )
    other = names[1] if names[0] == target else names[0]
    units = round(percent * WEIGHT_SCALE)
    new = {target: _percent(units), other: _percent(100 * WEIGHT_SCALE - units)}
    if all(serve[n] == new[n] for n in names):
        already = f"rule {label!r} of {key} already serves {target} to {format_number(percent)} %"
        return EditPlan(notes=[already])
    rules_node = node.get("rules")
    if rules_node is None or rules_node[1].kind != "seq" or rules_node[1].shared:
        raise Refused(
            f"the rules of {key} are not written in place or are shared through a YAML anchor "
            "(`&`, `*`, `<<`): edit by hand"
        )
    rule_node = rules_node[1].items[index]
    serve_pair = rule_node.get("serve") if rule_node.kind == "map" and not rule_node.shared else None
    if serve_pair is None or serve_pair[1].kind != "map" or serve_pair[1].shared:
        raise Refused(
            f"the split of rule {label!r} is not written in place or is shared through a YAML anchor "
            "(`&`, `*`, `<<`) with other places: edit it by hand"
        )
    base = _path("features", key, "rules", index, "serve")
    replacements = []
    changes = []
    for name in names:
        pair = serve_pair[1].get(name)
        if pair is None:  # pragma: no cover - the parsed document has it
            raise Refused(f"cannot find the weight of {name!r} in rule {label!r}")
        value = new[name]
        replacements.append(_with_value(ctx, _scalar(pair[1], f"{base}.{name}"), format_number(value)))
        changes.append(Change(f"{base}.{name}", serve[name], value))

    def mutate(doc: dict[str, Any]) -> None:
        doc["features"][key]["rules"][index]["serve"].update(new)

    notes = []
    if new[target] < serve[target]:
        moved = format_number(serve[target] - new[target])
        notes.append(f"{moved} % of users move from {target} back to {other}")
    if definition.get("enabled", True) is False:
        notes.append(f"{key} is killed (enabled: false): the split takes effect after `flagkit revive`")
    return EditPlan(replacements, mutate, changes, notes)


def run_rollout(args: argparse.Namespace) -> int:
    return run_edit(
        args, "rollout", lambda ctx: _plan_rollout(ctx, args.key, args.percent, args.rule, args.variant)
    )
