"""``flagkit eval``: one flag for one context, optionally with the trace of every rule."""

from __future__ import annotations

import argparse

from .._tools.render import render_explanation, show
from ._common import OK, PROBLEMS, Exit, bucketing_attributes, context_of, emit_json, load, unknown_flag
from .demo import client_for


def run_eval(args: argparse.Namespace) -> int:
    flagset = load(args.file, args.json)
    context = context_of(args, bucketing_attributes(flagset))
    if args.key not in flagset.flags:
        message = unknown_flag(flagset, args.key, args.file)
        if args.json:
            emit_json(
                {
                    "key": args.key,
                    "value": None,
                    "variant": None,
                    "reason": "ERROR",
                    "rule": None,
                    "error_code": "FLAG_NOT_FOUND",
                    "error_message": message,
                    "context": context,
                }
            )
            return PROBLEMS
        raise Exit(PROBLEMS, message)
    with client_for(flagset) as flags:
        result = flags.evaluate(args.key, None, context)
        trace = flags.explain(args.key, context) if args.explain else None
    if args.json:
        out = {**result.as_dict(), "context": context}
        if trace is not None:
            out["explanation"] = trace.as_dict()
        emit_json(out)
        return OK if not result.is_error else PROBLEMS
    print(f"{args.key} = {show(result.value)}")
    print(f"  variant  {result.variant}")
    print(f"  reason   {result.reason}")
    print(f"  rule     {result.rule or '-'}")
    if result.error_message:
        print(f"  error    {result.error_code}: {result.error_message}")
    print(f"  context  {show(context)}")
    if trace is not None:
        print("")
        print("Trace:")
        for line in render_explanation(trace, "  "):
            print(line)
    return OK if not result.is_error else PROBLEMS
