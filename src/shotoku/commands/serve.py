"""``shotoku serve``: the browser mixing console."""

from __future__ import annotations

import sys

from ..errors import ParameterError

NAME = "serve"
HELP = "serve the mixing console in a browser: upload, separate, mix the stems live, download"


def add_arguments(p):
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this computer only)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    p.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                   help="another host name the page may be reached by (Host header check); repeatable")
    p.add_argument("--jobs-dir", metavar="DIR",
                   help="folder for the job folders (default: a temporary folder removed on exit)")
    p.add_argument("--workers", type=int, default=1, help="separations at once (default 1)")
    p.add_argument("--queue", type=int, default=4, help="separations waiting beyond those running (default 4)")
    p.add_argument("--max-jobs", type=int, default=32, help="jobs kept at once (default 32)")
    p.add_argument("--max-upload-mb", type=float, default=200.0, help="largest upload in MiB (default 200)")
    p.add_argument("--max-minutes", type=float, default=20.0, help="longest recording in minutes (default 20)")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds a separation may take (default 600)")
    p.add_argument("--retention", type=float, default=3600.0,
                   help="seconds a job is kept after its last change (default 3600)")


def limits_from(args):
    from ..web.jobs import Limits

    for name in ("workers", "max_jobs"):
        if getattr(args, name) < 1:
            raise ParameterError(f"--{name.replace('_', '-')} must be at least 1")
    for name in ("queue",):
        if getattr(args, name) < 0:
            raise ParameterError("--queue must be 0 or more")
    for name in ("max_upload_mb", "max_minutes", "timeout", "retention"):
        if not getattr(args, name) > 0:
            raise ParameterError(f"--{name.replace('_', '-')} must be positive")
    return Limits(max_upload_bytes=int(args.max_upload_mb * 2 ** 20), max_seconds=args.max_minutes * 60,
                  workers=args.workers, queue=args.queue, max_jobs=args.max_jobs, timeout_s=args.timeout,
                  retention_s=args.retention)


def run(args) -> int:
    try:
        import uvicorn

        from ..web.app import LOCAL_HOSTS, create_app
    except ImportError as exc:
        raise ParameterError(f"shotoku serve needs the web extra ({exc.name} is missing): "
                             "pip install 'shotoku[web]'") from None
    if not 0 <= args.port <= 65535:
        raise ParameterError(f"--port {args.port} is not a port number (0-65535)")
    hosts = list(LOCAL_HOSTS) + list(args.allow_host)
    if args.host not in LOCAL_HOSTS + ("0.0.0.0", "::"):
        hosts.append(args.host)
    if args.host not in LOCAL_HOSTS:
        print(f"shotoku: warning: listening on {args.host}: other computers can reach this server "
              "(it has no accounts or passwords)", file=sys.stderr)
    app = create_app(limits=limits_from(args), root=args.jobs_dir, allowed_hosts=hosts)
    config = uvicorn.Config(app, host=args.host, port=args.port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    original = server.startup

    async def startup(sockets=None):
        await original(sockets)
        for s in server.servers:
            for sock in s.sockets:
                host, port = sock.getsockname()[:2]
                shown = f"[{host}]" if ":" in host else host
                print(f"shotoku console on http://{shown}:{port}/  (Ctrl-C to stop)", flush=True)
                return

    server.startup = startup
    try:
        server.run()
    except KeyboardInterrupt:  # Ctrl-C: uvicorn has shut down cleanly and re-raised it
        pass
    return 0
