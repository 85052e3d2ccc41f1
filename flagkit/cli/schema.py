"""``flagkit schema``: the JSON Schema of the flag file format."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..document.schema import json_schema
from ._common import OK, USAGE, Exit


def run_schema(args: argparse.Namespace) -> int:
    text = json.dumps(json_schema(), indent=2, ensure_ascii=False, allow_nan=False)
    if args.output:
        try:
            Path(args.output).write_text(text + "\n", encoding="utf-8")
        except OSError as exc:
            raise Exit(USAGE, f"{args.output}: cannot write ({exc.strerror or exc})") from None
        if not args.json:
            print(f"wrote {args.output}", file=sys.stderr)
        return OK
    print(text)
    return OK
