"""`push-service serve`: read the configuration once, say where to go, and run."""

from __future__ import annotations

import argparse
import os
import sys

from aiohttp import web

from . import collector, logs, signatures
from .app import create_app
from .config import ConfigError, Settings
from .loops import new_loop


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="push-service", description="Push approval service.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the HTTP and websocket service")
    serve.add_argument("--host", default=None, help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="port to listen on (default 8080)")
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env(os.environ, host=args.host, port=args.port)
        loop, loop_name = new_loop(settings.event_loop)
    except ConfigError as exc:
        print(f"push-service: {exc}", file=sys.stderr)
        return 2
    logs.configure(settings.log_level, settings.log_format)
    _greet(settings, loop_name)
    app = create_app(settings)
    app.on_startup.append(collector.freeze_startup_objects)
    web.run_app(
        app,
        host=settings.host,
        port=settings.port,
        backlog=settings.listen_backlog,
        print=None,
        loop=loop,
    )
    return 0


def _greet(settings: Settings, loop_name: str) -> None:
    engine = "Redis" if settings.redis_url else "in-process"
    lines = [
        f"push-service on {settings.base_url}"
        f" ({engine} engine, {loop_name} loop, {signatures.BACKEND} signatures,"
        f" issuer {settings.issuer!r})"
    ]
    if settings.admin_token_generated:
        lines += [
            "Admin token (generated for this run; set PUSH_ADMIN_TOKEN to choose one):",
            f"  {settings.admin_tokens[0].reveal()}",
        ]
    lines += [
        "Next: create an app:",
        f"  curl -s -X POST {settings.base_url}/v1/admin/apps"
        " -H 'Authorization: Bearer <admin token>'"
        " -H 'Content-Type: application/json' -d '{\"name\": \"Intranet\"}'",
    ]
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    sys.exit(main())
