"""``forecast serve``: the read-only HTTP service over the store (see :mod:`forecast.service`).

Runs in the foreground under uvicorn until Ctrl-C or SIGTERM; exit code 0 then, 2 for bad
arguments, 1 when the address cannot be bound.
"""

from __future__ import annotations

import argparse
import ipaddress
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``serve`` subcommand."""
    p = sub.add_parser(
        "serve",
        help="read-only HTTP API over the store: health, tickers, forecasts, scorecard, runs",
        description="Serve the store `forecast run` writes as a read-only JSON API (OpenAPI "
        "schema at /openapi.json, docs at /docs). The database is opened read-only for each "
        "request, so the service runs safely while the job writes. No authentication: bind to "
        "a loopback address (the default) or put it behind a proxy that adds it.",
    )
    p.add_argument(
        "--store",
        type=Path,
        default=None,
        help="SQLite store (default: the one in --config, else data/forecast.db)",
    )
    p.add_argument("--config", type=Path, default=None, help="job config naming store, calendar")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=_port, default=8000, help="port (default 8000; 0: any free port)")
    p.add_argument(
        "--calendar",
        default=None,
        help="exchange calendar for staleness (default: the config's, else XNYS)",
    )
    p.add_argument(
        "--max-lag",
        type=_sessions,
        default=1,
        metavar="SESSIONS",
        help="/health says stale when the newest forecasts are more than this many closed "
        "sessions old (default 1)",
    )
    p.add_argument(
        "--no-docs",
        action="store_true",
        help="do not serve /docs and /redoc (Swagger UI and ReDoc, served offline from the "
        "fastapi-offline package); /openapi.json stays",
    )
    p.add_argument(
        "--cors-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="allow browser pages from this origin (e.g. http://localhost:3000) to read the "
        "API; repeatable; default: none (CORS off)",
    )
    p.add_argument("--no-access-log", action="store_true", help="do not log each request")
    p.set_defaults(func=run)


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer 0 to 65535; got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be an integer 0 to 65535; got {value}")
    return value


def _sessions(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0; got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0; got {value}")
    return value


def run(args: argparse.Namespace) -> int:
    """Build the app and serve it until interrupted."""
    try:
        import uvicorn

        from forecast.service.app import create_app
    except ImportError as exc:  # an optional extra: say how to get it
        print(
            f"forecast serve: error: {exc}; install the service's packages with "
            f"pip install 'forecast[serve]' (fastapi, uvicorn)",
            file=sys.stderr,
        )
        return 1

    store, calendar = _store_and_calendar(args)
    app = create_app(
        store,
        calendar=calendar,
        max_lag=args.max_lag,
        docs=not args.no_docs,
        cors_origins=tuple(args.cors_origin),
    )
    path = app.state.service.store
    print(f"forecast serve: store {path} (read-only), calendar {calendar}", file=sys.stderr)
    if not path.is_file():
        print(
            f"forecast serve: warning: no store at {path} yet; requests get 503 until "
            f"`forecast run` creates it",
            file=sys.stderr,
        )
    if not _is_loopback(args.host):
        print(
            f"forecast serve: warning: listening on {args.host}, beyond this machine; the API "
            f"has no authentication: anyone who can reach it can read the forecasts",
            file=sys.stderr,
        )
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        access_log=not args.no_access_log,
        server_header=False,
        log_level="info",
    )
    return 0


def _store_and_calendar(args: argparse.Namespace) -> tuple[Path, str]:
    from forecast.job.config import DEFAULT_CONFIG, load_config

    config = None
    if args.config is not None or (args.store is None and DEFAULT_CONFIG.is_file()):
        config = load_config(args.config)
    store = args.store or (config.store if config else Path("data") / "forecast.db")
    return store, args.calendar or (config.calendar if config else "XNYS")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
