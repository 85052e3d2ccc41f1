"""The status page as one self-contained HTML document (inline CSS, no script, no external asset)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from html import escape
from typing import Any

__all__ = ["render_html"]

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;max-width:72rem;padding:1rem 1.5rem;color:#1f2328}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem;border-bottom:1px solid #d0d7de}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.3rem .5rem;vertical-align:top;
border-bottom:1px solid #eaeef2}code,pre,textarea,input{font:13px ui-monospace,monospace}
pre{background:#f6f8fa;padding:.5rem;overflow:auto;margin:.3rem 0}
.state{font-weight:600;padding:0 .4rem;border-radius:.3rem}.ready{background:#dafbe1}
.stale{background:#fff8c5}.error,.not_ready{background:#ffebe9}.muted{color:#59636e}
form{display:grid;grid-template-columns:10rem 1fr;gap:.5rem;max-width:40rem}
textarea{height:5rem}button{width:10rem}.flag{margin:1rem 0}.flag h3{font-size:1rem;margin:.2rem 0}
.problem{color:#cf222e}
"""


def _time(stamp: Any) -> str:
    if not isinstance(stamp, int | float):
        return "—"
    return dt.datetime.fromtimestamp(stamp, dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _show(value: Any) -> str:
    return escape(json.dumps(value, ensure_ascii=False, default=str))


def _text(value: Any) -> str:
    return escape("" if value is None else str(value))


def _providers(providers: list[Mapping[str, Any]]) -> str:
    rows = []
    for p in providers:
        state = str(p.get("state"))
        rows.append(
            "<tr>"
            f"<td><code>{_text(p.get('name'))}</code></td>"
            f'<td><span class="state {escape(state)}">{escape(state)}</span></td>'
            f"<td>{_text(p.get('flags'))}</td>"
            f"<td><code>{_text(p.get('version'))}</code></td>"
            f"<td>{_time(p.get('fresh_at'))}</td>"
            f"<td>{_time(p.get('last_success'))}</td>"
            f"<td>{_text(p.get('error_count'))}</td>"
            f"<td>{_text(p.get('last_error'))}</td>"
            "</tr>"
        )
    head = (
        "<tr><th>Provider</th><th>State</th><th>Flags</th><th>Version</th>"
        '<th title="its last successful check of the source">Fresh as of</th>'
        '<th title="its last load that changed what it serves">Last change</th>'
        "<th>Errors</th><th>Last error</th></tr>"
    )
    return f'<table id="providers">{head}{"".join(rows)}</table>'


def _form(data: Mapping[str, Any], query: Mapping[str, Any] | None) -> str:
    user = _text(query.get("user")) if query else ""
    attrs = ""
    if query:
        attrs = escape("\n".join(f"{k}={json.dumps(v, default=str)}" for k, v in query["attributes"].items()))
    chosen = query.get("flag") if query else None
    options = ['<option value="">every flag</option>']
    for flag in data["flags"]:
        key = str(flag["key"])
        selected = " selected" if key == chosen else ""
        options.append(f'<option value="{escape(key)}"{selected}>{escape(key)}</option>')
    return (
        '<form id="query" method="get" action="">'
        f'<label for="query-user">User id</label><input id="query-user" name="user" value="{user}">'
        '<label for="query-attrs">Attributes<br><span class="muted">key=value per line</span></label>'
        f'<textarea id="query-attrs" name="attrs">{attrs}</textarea>'
        f'<label for="query-flag">Flag</label><select id="query-flag" name="flag">{"".join(options)}</select>'
        '<span></span><button id="query-submit" type="submit">What do they get?</button>'
        "</form>"
    )


def _answers(query: Mapping[str, Any]) -> str:
    parts = [f'<p class="problem">{escape(problem)}</p>' for problem in query.get("problems", [])]
    rows = []
    for r in query["results"]:
        trace = "\n".join(r.get("trace") or [])
        error = f" ({escape(str(r['error_code']))})" if r.get("error_code") else ""
        why = f"<details><summary>why</summary><pre>{escape(trace)}</pre></details>" if trace else ""
        rows.append(
            f'<tr data-flag="{escape(str(r["key"]))}">'
            f"<td><code>{_text(r['key'])}</code></td>"
            f'<td class="value"><code>{_show(r.get("value"))}</code></td>'
            f'<td class="variant">{_text(r.get("variant"))}</td>'
            f'<td class="reason">{_text(r.get("reason"))}{error}</td>'
            f'<td class="rule">{_text(r.get("rule"))}</td>'
            f'<td class="trace">{why}</td>'
            "</tr>"
        )
    head = "<tr><th>Flag</th><th>Value</th><th>Variant</th><th>Reason</th><th>Rule</th><th>Trace</th></tr>"
    who = escape(json.dumps({"user_id": query.get("user"), **query["attributes"]}, default=str))
    parts.append(f'<p>Answers for <code id="answer-for">{who}</code>:</p>')
    parts.append(f'<table id="answers">{head}{"".join(rows)}</table>')
    return "".join(parts)


def _flags(flags: list[Mapping[str, Any]], usage: Mapping[str, Any] | None) -> str:
    parts = []
    for flag in flags:
        key = str(flag["key"])
        about = [
            f"{label} {_text(flag.get(field))}"
            for label, field in (("owner", "owner"), ("expires", "expires"), ("from", "source"))
            if flag.get(field)
        ]
        description = f"<p>{_text(flag['description'])}</p>" if flag.get("description") else ""
        words = "".join(f"<li>{escape(line)}</li>" for line in flag.get("rules_in_words", []))
        variants = ", ".join(f"{escape(str(n))} = {_show(v)}" for n, v in flag.get("variants", {}).items())
        used = ""
        if usage is not None:
            counts = usage.get(key)
            used = f'<p class="usage">{_usage_text(counts)}</p>'
        parts.append(
            f'<div class="flag" id="flag-{escape(key)}"><h3><code>{escape(key)}</code></h3>{description}'
            f'<p class="muted">{" · ".join(about)}</p><p>Variants: {variants}</p><ol>{words}</ol>{used}</div>'
        )
    return "".join(parts)


def _usage_text(counts: Any) -> str:
    if not counts or not counts.get("evaluations"):
        return "Not evaluated since usage counting started."
    detail = ", ".join(
        f"{escape(str(variant) or 'no variant')} / {escape(str(reason))}: {int(count)}"
        for variant, reasons in counts.get("variants", {}).items()
        for reason, count in reasons.items()
    )
    return f"Evaluated {int(counts['evaluations'])} times ({detail}); last {_time(counts.get('last_seen'))}."


def render_html(data: Mapping[str, Any]) -> str:
    """The page for ``status_data(...)``: every value escaped, nothing loaded from elsewhere."""
    title = escape(str(data["title"]))
    query = data.get("query")
    body = [
        f"<h1>{title}</h1>",
        f'<p class="muted">Generated {_time(data["generated_at"])} · snapshot {_text(data.get("generation"))}'
        f' · {"ready" if data["ready"] else "not ready"} · <a href="status.json">JSON</a></p>',
        "<h2>Providers</h2>",
        _providers(data["providers"]),
        "<h2>What does a user get?</h2>",
        _form(data, query),
    ]
    if query:
        body.append(_answers(query))
    body.append(f"<h2>Flags ({len(data['flags'])})</h2>")
    usage = data.get("usage")
    body.append(_flags(data["flags"], usage["flags"] if usage else None))
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="robots" content="noindex"><title>{title}</title><style>{_CSS}</style></head>'
        f"<body>{''.join(body)}</body></html>"
    )
