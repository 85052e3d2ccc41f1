"""Run every ```python block of one Markdown page, in order, in one namespace (used by
tests/test_docs.py, one subprocess per page so pages cannot disturb each other).

Usage: ``python tests/docs_runner.py PAGE.md WORKDIR``. The blocks run with WORKDIR as the
current directory; it holds ``config/features.yaml`` (a copy of examples/features.yaml) unless
the page writes its own files. Markers, as HTML comments right above a fence (invisible on
the rendered page, visible to anyone editing it):

* ``<!-- doc-test: file PATH -->`` above a yaml/json block: the block is written to PATH, so
  the page's own flag file is the one its snippets use;
* ``<!-- doc-test: setup`` … ``-->``: code run before the next python block — names the
  snippet assumes from the reader's application (``old_checkout``, a ``cart``), kept short.
  Above an output block of docs/cli.md (a plain fence of ``$ COMMAND`` lines) the same marker
  holds a *shell* script that tests/cli_docs.py runs before the block's commands (usage
  files, a git repository); this runner ignores it;
* ``<!-- doc-test: skip: REASON -->``: the block is not run (tests/test_docs.py keeps this list
  tiny and requires a reason).

``https://cdn.example.com/flags.json`` in a snippet is served for real: a flag server on
127.0.0.1 (tests/helpers/flag_server.py) answers with the page's ``config/features.yaml``.
A python block with a ``file`` marker is a file of the page's example project (scanned, not
run): it is written and must compile. Prints ``ran N skipped M files F`` on success; any
exception fails the page with the block's line.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import sys
import traceback
import types
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

MARKER = re.compile(r"<!--\s*doc-test:\s*(?P<kind>file|setup|skip)\b:?\s*(?P<rest>.*?)\s*(-->)?\s*$", re.S)
FENCE = re.compile(r"^```(?P<lang>[\w-]*)\s*$")
CDN = "https://cdn.example.com/flags.json"


@dataclass
class Block:
    lang: str
    line: int  # 1-based line of the opening fence
    code: str
    skip: str | None = None
    file: str | None = None
    setup: list[str] = field(default_factory=list)


def blocks(text: str) -> list[Block]:
    """Every fenced block of ``text`` with the markers right above it."""
    lines = text.splitlines()
    out: list[Block] = []
    pending: dict[str, str | list[str] | None] = {"skip": None, "file": None, "setup": []}
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.lstrip().startswith("<!--") and "doc-test:" in line:
            end = i
            while "-->" not in lines[end]:
                end += 1
            comment = "\n".join(lines[i : end + 1])
            match = MARKER.match(comment.strip())
            if match is None:
                raise SystemExit(f"line {i + 1}: malformed doc-test marker: {comment!r}")
            kind, rest = match["kind"], match["rest"].removesuffix("-->").rstrip()
            if kind == "setup":
                setup = pending["setup"]
                assert isinstance(setup, list)
                setup.append(rest)
            else:
                pending[kind] = rest
            i = end + 1
            continue
        fence = FENCE.match(line)
        if fence is not None:  # an opening fence (closing ones are consumed below)
            start = i
            i += 1
            body: list[str] = []
            while not lines[i].startswith("```"):
                body.append(lines[i])
                i += 1
            skip, file, setup = pending["skip"], pending["file"], pending["setup"]
            assert isinstance(setup, list)
            out.append(
                Block(
                    fence["lang"],
                    start + 1,
                    "\n".join(body) + "\n",
                    skip if isinstance(skip, str) else None,
                    file if isinstance(file, str) else None,
                    setup,
                )
            )
            pending = {"skip": None, "file": None, "setup": []}
        elif line.strip():
            pending = {"skip": None, "file": None, "setup": []}  # a marker applies to the next fence only
        i += 1
    return out


def main(page: Path, workdir: Path) -> int:
    import flagkit
    from flagkit.document.reader import read_document
    from tests.helpers.flag_server import FlagServer

    found = blocks(page.read_text(encoding="utf-8"))
    os.chdir(workdir)
    sys.path.insert(0, str(workdir))  # modules the page writes (``shop/flags.py``) import
    (workdir / "config").mkdir(exist_ok=True)
    (workdir / "config" / "features.yaml").write_bytes((REPO / "examples" / "features.yaml").read_bytes())
    for block in found:
        if block.file is not None:
            target = workdir / block.file
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(block.code, encoding="utf-8")
    document = read_document((workdir / "config" / "features.yaml").read_bytes())

    def jsonable(value: object) -> object:
        return value.isoformat() if isinstance(value, dt.date) else str(value)

    server = FlagServer(json.dumps(document, default=jsonable), content_type="application/json")
    module = types.ModuleType("__docs__")  # a real module: dataclasses and pickling look it up
    sys.modules[module.__name__] = module
    namespace: dict[str, object] = module.__dict__
    ran = skipped = files = 0
    try:
        for block in found:
            if block.lang != "python":
                continue
            if block.file is not None:  # a file of the page's example project: it must compile
                compile(block.code, f"{page}:{block.line}", "exec")
                files += 1
                continue
            if block.skip is not None:
                skipped += 1
                continue
            for setup in block.setup:
                exec(compile(setup, f"{page.name}:{block.line} (setup)", "exec"), namespace)
            code = block.code.replace(CDN, server.url("/flags.json"))
            # Line numbers of errors point into the page: pad with the lines above the block.
            padded = "\n" * block.line + code
            try:
                exec(compile(padded, str(page), "exec"), namespace)
            except BaseException:
                traceback.print_exc()
                print(f"{page}:{block.line}: this snippet failed", file=sys.stderr)
                return 1
            ran += 1
    finally:
        for value in list(namespace.values()):
            if isinstance(value, flagkit.Flags):
                value.close()
        server.stop()
    print(f"ran {ran} skipped {skipped} files {files}")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
