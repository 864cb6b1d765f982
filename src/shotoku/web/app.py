"""The web console's server (FastAPI): jobs and files, nothing more.

Routes (every ``{job}`` is a server-made id, checked by :func:`shotoku.web.jobs.check_id`)::

    GET    /                           the console page
    GET    /static/...                 its script and style
    GET    /api/limits                 what the server accepts
    POST   /api/jobs                   upload (multipart field ``file``) -> the job, 201
    GET    /api/jobs/{job}             state, queue position, methods that fit, error
    POST   /api/jobs/{job}/separate    {"method": NAME} -> 202 queued
    GET    /api/jobs/{job}/console     sources, their statistics and waveform peaks (done jobs)
    GET    /api/jobs/{job}/audio/{key} mixture.wav or source number key (float32 WAV)
    POST   /api/jobs/{job}/remix       a mix document -> the remix as a WAV download
    DELETE /api/jobs/{job}             remove the job and its folder, 204

Protection, by the conventions of upload services: the request body is limited
(``Content-Length`` checked before anything is read, then every received byte counted: 413);
uploads are decoded before they are accepted (415); separations wait in a bounded queue (503);
the ``Host`` header must name this server (DNS rebinding); every state-changing request must
carry the non-simple header ``X-Shotoku: 1`` (a cross-site form or ``fetch`` cannot send it
without a CORS preflight that this server never grants) and, when it has an ``Origin``, come
from this server's own origin (403); every response carries a Content-Security-Policy.

The remix arithmetic is :func:`shotoku.remix.render`, the one ``shotoku remix`` uses.
"""

from __future__ import annotations

import json
import time
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.middleware.trustedhost import TrustedHostMiddleware

from . import jobs as J

STATIC = Path(__file__).parent / "static"
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "media-src 'self' blob:; connect-src 'self'; form-action 'none'; frame-ancestors 'none'; "
       "base-uri 'none'")
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
]
#: The header every state-changing request must carry.
GUARD_HEADER = "x-shotoku"
SAFE_METHODS = ("GET", "HEAD")
#: Largest body of a non-upload request (a mix document).
MAX_JSON_BYTES = 256 * 1024
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def _error(status: int, message: str):
    return JSONResponse({"error": message}, status_code=status)


class Guard:
    """ASGI middleware: body limit, cross-site request refusal and security headers.

    max_body: largest body in bytes (uploads); ``Content-Length`` over it is refused before the
        body is read, and a body without one (chunked) is counted as it arrives
    """

    def __init__(self, app, max_body: int):
        self.app = app
        self.max_body = int(max_body)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}

        async def send_secured(message):
            if message["type"] == "http.response.start":
                message = dict(message)
                extra = list(SECURITY_HEADERS)
                if scope["path"].startswith("/api/"):
                    extra.append((b"cache-control", b"no-store"))
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        method = scope["method"].upper()
        if method not in SAFE_METHODS:
            refusal = self._refusal(headers)
            if refusal:
                return await _error(403, refusal)(scope, receive, send_secured)
        limit = self.max_body if scope["path"] == "/api/jobs" else MAX_JSON_BYTES
        length = headers.get("content-length")
        if length is not None:
            if not length.isdigit():
                return await _error(400, "bad Content-Length")(scope, receive, send_secured)
            if int(length) > limit:
                return await _error(413, f"the request is larger than {J.gib(limit)}")(scope, receive, send_secured)
        received = 0

        async def counted():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise HTTPException(413, f"the request is larger than {J.gib(limit)}")
            return message

        await self.app(scope, counted, send_secured)

    @staticmethod
    def _refusal(headers: dict) -> str | None:
        if headers.get(GUARD_HEADER) != "1":
            return "state-changing requests need the header 'X-Shotoku: 1'"
        origin = headers.get("origin")
        if origin is not None and origin != f"http://{headers.get('host', '')}":
            return "cross-origin request refused"
        return None


def create_app(store: J.JobStore | None = None, limits: J.Limits | None = None, root=None,
               allowed_hosts=None) -> FastAPI:
    """The console's ASGI application.

    store: the job store to serve (made from ``limits`` and ``root`` when None, and closed
        with the application)
    allowed_hosts: host names the ``Host`` header may carry (default: 127.0.0.1, localhost, ::1)
    """
    own = store is None
    store = store or J.JobStore(root, limits)

    @asynccontextmanager
    async def lifespan(app):
        yield
        if own:
            await run_in_threadpool(store.close)

    app = FastAPI(title="shotoku console", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.store = store
    app.add_middleware(Guard, max_body=store.limits.max_upload_bytes + 64 * 1024)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts or LOCAL_HOSTS))
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.exception_handler(J.JobError)
    async def job_error(request, exc: J.JobError):
        headers = {"Retry-After": "10"} if exc.status == 503 else None
        return JSONResponse({"error": str(exc)}, status_code=exc.status, headers=headers)

    @app.exception_handler(HTTPException)
    async def http_error(request, exc: HTTPException):
        return _error(exc.status_code, str(exc.detail))

    @app.get("/")
    def page():
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/api/limits")
    def get_limits():
        lim = store.limits
        return {"max_upload_bytes": lim.max_upload_bytes, "max_seconds": lim.max_seconds,
                "retention_s": lim.retention_s, "timeout_s": lim.timeout_s}

    @app.post("/api/jobs", status_code=201)
    async def upload(request: Request):
        try:
            form = await request.form(max_files=1, max_fields=4, max_part_size=64 * 1024)
        except HTTPException:
            raise
        except Exception:
            raise HTTPException(400, "send the file as multipart/form-data, field 'file'") from None
        try:
            f = form.get("file")
            if not isinstance(f, UploadFile):
                raise HTTPException(400, "send the file as multipart/form-data, field 'file'")
            job = await run_in_threadpool(store.create, f.file, f.filename)
        finally:
            await form.close()
        return describe(job)

    def describe(job: J.Job) -> dict:
        methods = J.fitting_methods(job.channels)
        return {
            "id": job.id, "name": job.name, "state": job.state, "channels": job.channels,
            "rate": job.rate, "samples": job.samples, "seconds": job.samples / job.rate if job.rate else 0,
            "sha256": job.sha256, "method": job.method, "error": job.error,
            "methods": [{"name": m.name, "description": m.description} for m in methods],
            "default_method": J.default_method(job.channels),
            "queue_position": store.queue_position(job),
            "elapsed": (job.finished or time.time()) - job.started if job.started else None,
            "expires_in": J.expiry_seconds(job, store.limits),
        }

    @app.get("/api/jobs/{job_id}")
    def status(job_id: str):
        return describe(store.get(job_id))

    @app.post("/api/jobs/{job_id}/separate", status_code=202)
    async def separate(job_id: str, request: Request):
        doc = await _json(request)
        method = doc.get("method") if isinstance(doc, dict) else None
        if not isinstance(method, str):
            raise HTTPException(422, "send {\"method\": NAME}")
        job = await run_in_threadpool(store.start, job_id, method)
        return describe(job)

    @app.get("/api/jobs/{job_id}/console")
    def console(job_id: str):
        return store.console(store.get(job_id))

    @app.get("/api/jobs/{job_id}/audio/{key}")
    def audio(job_id: str, key: str, download: bool = False):
        path, name = store.audio_path(store.get(job_id), key)
        return FileResponse(path, media_type="audio/wav", filename=name if download else None,
                            content_disposition_type="attachment")

    @app.post("/api/jobs/{job_id}/remix")
    async def remix(job_id: str, request: Request):
        doc = await _json(request)
        job = store.get(job_id)
        path, name, warning = await run_in_threadpool(_render, store, job, doc)
        headers = {"X-Shotoku-Warning": warning} if warning else None
        return FileResponse(path, media_type="audio/wav", filename=name, headers=headers,
                            background=BackgroundTask(path.unlink, missing_ok=True))

    @app.delete("/api/jobs/{job_id}", status_code=204)
    def delete(job_id: str):
        store.delete(job_id)
        return Response(status_code=204)

    return app


async def _json(request: Request):
    body = await request.body()
    try:
        return json.loads(body or b"{}")
    except ValueError:
        raise HTTPException(400, "the body is not JSON") from None


def _render(store: J.JobStore, job: J.Job, doc) -> tuple[Path, str, str | None]:
    """Render a job's remix with :func:`shotoku.remix.render` into a fresh file in its folder."""
    from .. import remix
    from ..errors import ShotokuError
    from ..io import save
    from ..outputs import load_images, source_filename

    store.console(job)  # done jobs only
    try:
        mix = remix.Mix.from_dict(doc)
        images, rate = load_images(job.folder / J.STEMS)
        y = remix.render(images, mix, warn=False)  # warnings are process-wide: ask instead
    except ShotokuError as exc:
        raise J.Unprocessable(str(exc)) from None
    path = job.folder / f"remix-{J.new_id()}.wav"
    save(path, y, rate)
    warning = remix.clipping_message(y, mix)
    song = source_filename(Path(job.name).stem or "recording", "")
    return path, f"{song}-remix.wav", warning


class RunningServer:
    """A console server running in a background thread (:func:`start_in_thread`)."""

    def __init__(self, server, thread, url: str):
        self.server, self.thread, self.url = server, thread, url

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving and wait for the thread (the application's store closes if it owns it)."""
        self.server.should_exit = True
        self.thread.join(timeout)


def start_in_thread(app, host: str = "127.0.0.1", port: int = 0, timeout: float = 30.0) -> RunningServer:
    """Serve ``app`` with uvicorn in a daemon thread (tests, notebooks); ``port=0`` picks a free
    port. Returns once the server listens; :attr:`RunningServer.url` is its address."""
    import threading

    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="shotoku-serve", daemon=True)
    thread.start()
    t0 = time.monotonic()
    while not server.started:
        if not thread.is_alive() or time.monotonic() - t0 > timeout:
            raise RuntimeError(f"the console server did not start on {host}:{port}")
        time.sleep(0.02)
    bound = server.servers[0].sockets[0].getsockname()
    return RunningServer(server, thread, f"http://{host}:{bound[1]}")
