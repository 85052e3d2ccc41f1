"""``flagkit publish``: validate a flag file and publish it to Redis for RedisProvider.

The key, its version key and the channel message change in one ``MULTI``/``EXEC`` (see
``flagkit/providers/_redis_wire.py``). An invalid file, or one whose numeric top-level
``version`` is older than the published document's, is refused (exit 1) and nothing is
written. The Redis URL may come from ``FLAGKIT_REDIS_URL`` so that a password stays out of
the process list and shell history; it is never printed.
"""

from __future__ import annotations

import argparse
import os

from ..errors import ConfigError
from ..providers._redis_wire import publish, url_secrets
from ..providers._secrets import mask_url
from ._common import OK, PROBLEMS, USAGE, Exit, emit_json, load, plural, read_flag_file

__all__ = ["run_publish"]

URL_VARIABLE = "FLAGKIT_REDIS_URL"


def run_publish(args: argparse.Namespace) -> int:
    url = args.redis or os.environ.get(URL_VARIABLE)
    if not url:
        raise Exit(USAGE, f"give the Redis URL with --redis URL or ${URL_VARIABLE}")
    data = read_flag_file(args.file)
    load(args.file, args.json)  # an invalid file stops here (exit 1) with every error and its line
    try:
        published = publish(
            url,
            args.key,
            data,
            source=args.file,
            channel=args.channel,
            version_key=args.version_key,
            allow_older=args.allow_older,
        )
    except ConfigError as exc:
        if args.json:
            emit_json({"file": args.file, "published": False, "error": str(exc)})
            raise Exit(PROBLEMS) from None
        raise Exit(PROBLEMS, f"{exc}\nnothing was published") from None
    except Exception as exc:  # redis-py's errors: unreachable, refused, wrong password
        detail = f"{type(exc).__name__}: {exc}"
        for secret in url_secrets(url):
            detail = detail.replace(secret, "***")
        raise Exit(USAGE, f"cannot publish to {mask_url(url)}: {detail}") from None
    if args.json:
        emit_json(
            {
                "file": args.file,
                "published": True,
                "key": args.key,
                "label": published.label,
                "version": published.version,
                "flags": published.flags,
                "receivers": published.receivers,
            }
        )
        return OK
    version = f"version {published.version}, " if published.version is not None else ""
    print(
        f"published {args.file} to {mask_url(url)} key {args.key!r}: {version}label {published.label} "
        f"({plural(published.flags, 'flag')}, {plural(published.receivers, 'subscriber')} notified)"
    )
    return OK
