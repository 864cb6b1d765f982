"""Jobs of the web console: one folder per job, separation in a bounded pool of worker processes.

A job is made by an upload: the server names it (:func:`new_id`, 32 hex digits) and gives it a
folder ``<root>/<id>/`` in which every file has a fixed name (``mixture.wav``, ``stems/``,
``console.json``, ``error.txt``); nothing a user sends (file names included) ever becomes part
of a path. The upload is decoded before it is accepted (:class:`NotAudio` otherwise) and kept
only as ``mixture.wav``.

Separation runs in a separate process (``forkserver`` start method: a fork of a small, clean
server process that has already imported shotoku, so a job starts in milliseconds and never
inherits the web server's threads) with a time limit; ``Limits.workers`` threads each wait on
one process, so at most that many run at once, and at most ``Limits.queue`` more wait
(:class:`QueueFull` beyond). Job folders go when the job is deleted, ``Limits.retention_s``
seconds after its last change or request (:meth:`JobStore.sweep`, called by a timer thread) and when the
store closes.
"""

from __future__ import annotations

import hashlib
import math
import multiprocessing
import re
import secrets
import shutil
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

#: A job id: 32 lower-case hex digits, made by the server.
ID_PATTERN = re.compile(r"[0-9a-f]{32}")
MIXTURE = "mixture.wav"
STEMS = "stems"
CONSOLE = "console.json"
ERROR = "error.txt"
UPLOAD = "upload.bin"


class JobError(Exception):
    """A request the job store refuses; ``status`` is the HTTP status that says why."""

    status = 400


def _refusal(name: str, status: int, doc: str) -> type:
    return type(name, (JobError,), {"status": status, "__doc__": doc, "__module__": __name__})


TooLarge = _refusal("TooLarge", 413, "An upload or a recording over the server's limits.")
NotAudio = _refusal("NotAudio", 415, "An upload that is empty or does not decode as audio.")
QueueFull = _refusal("QueueFull", 503, "More jobs or queued separations than the server takes now.")
NoSuchJob = _refusal("NoSuchJob", 404, "A malformed or unknown job id, or audio the job does not hold.")
Conflict = _refusal("Conflict", 409, "A request that the job's state does not allow now.")
Unprocessable = _refusal("Unprocessable", 422, "A method that cannot separate this recording.")


@dataclass
class Limits:
    """What one server accepts.

    max_upload_bytes: largest request body (an upload) in bytes
    max_seconds: longest recording in seconds
    workers: separations running at once (each in its own process)
    queue: separations waiting beyond those running; more get :class:`QueueFull` (503)
    max_jobs: job folders alive at once; an upload beyond gets :class:`QueueFull`
    timeout_s: a separation running longer is stopped and the job fails
    retention_s: a job's folder is removed this long after its last change or request
    """

    max_upload_bytes: int = 200 * 2 ** 20
    max_seconds: float = 20 * 60.0
    workers: int = 1
    queue: int = 4
    max_jobs: int = 32
    timeout_s: float = 600.0
    retention_s: float = 3600.0


@dataclass
class Job:
    id: str
    folder: Path
    name: str
    channels: int
    rate: int
    samples: int
    sha256: str
    state: str = "uploaded"  # uploaded, queued, running, done, failed
    method: str | None = None
    error: str | None = None
    created: float = field(default_factory=time.time)
    updated: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    accessed: float = field(default_factory=time.time)
    process: object = None
    deleted: bool = False

    def idle_since(self) -> float:
        """When the job last changed or was asked for (seconds since the epoch)."""
        return max(self.updated, self.accessed)


def new_id() -> str:
    """A fresh job id: 128 random bits as 32 hex digits."""
    return secrets.token_hex(16)


def check_id(job_id: str) -> str:
    """``job_id`` if it has the form of an id the server makes; :class:`NoSuchJob` otherwise."""
    if not isinstance(job_id, str) or not ID_PATTERN.fullmatch(job_id):
        raise NoSuchJob("no such job")
    return job_id


def display_name(filename) -> str:
    """A file name a user sent, for display only: its last path part, printable, ≤ 100 characters."""
    name = re.split(r"[\\/]", str(filename or ""))[-1]
    name = "".join(ch for ch in name if ch.isprintable()).strip()
    return name[:100] or "recording"


def fitting_methods(channels: int) -> list:
    """The registered methods that can separate ``channels``-channel audio on their own:
    no references (oracles) and no parameter the user would have to give (``model``'s
    checkpoint); shipped models included. A list of :class:`shotoku.registry.Method`."""
    from .. import registry
    from ..errors import ChannelError

    out = []
    for m in registry.available():
        if m.needs_references or m.required:
            continue
        try:
            m.check_channels(channels)
        except ChannelError:
            continue
        out.append(m)
    return out


def default_method(channels: int) -> str | None:
    from .. import registry
    from ..errors import ChannelError

    try:
        return registry.default_method(channels)
    except ChannelError:
        names = [m.name for m in fitting_methods(channels)]
        return names[0] if names else None


def separate_folder(folder: str, method: str) -> int:
    """Separate ``<folder>/mixture.wav`` with ``method``; write ``stems/`` (``shotoku separate``'s
    layout) and ``console.json`` (per-source names, files, statistics and waveform peaks). Runs
    in a worker process; a failure is written to ``error.txt`` as one line. Returns 0 or 1."""
    from .. import separation
    from ..errors import ShotokuError
    from ..io import load, write_json, write_text
    from ..outputs import versions, write_images
    from ..remix import source_stats
    from .peaks import peaks

    folder = Path(folder)
    try:
        mixture, rate = load(folder / MIXTURE)
        result = separation.run(mixture, rate, method, seed=0)
        record = {"input": MIXTURE, "method": result.method, "parameters": result.parameters, "seed": 0,
                  "channels": mixture.shape[0], "samples": mixture.shape[1], "versions": versions()}
        paths = write_images(folder / STEMS, result.images, rate, record)
        write_json(folder / CONSOLE, {
            "method": result.method, "seconds": result.seconds, "rate": rate,
            "mixture": {"peaks": peaks(mixture)},
            "sources": [{"index": k, "name": name, "file": paths[name].name,
                         "stats": source_stats(image).tolist(), "peaks": peaks(image)}
                        for k, (name, image) in enumerate(result.images.items())],
        })
        return 0
    except ShotokuError as exc:
        write_text(folder / ERROR, str(exc))
    except Exception as exc:  # a bug in a method: report it without a traceback to the page
        write_text(folder / ERROR, f"separation failed ({type(exc).__name__}: {exc})")
    return 1


def _child(folder: str, method: str) -> None:
    import os
    import sys

    try:
        os.nice(5)  # the web server's requests go first
    except OSError:
        pass
    sys.exit(separate_folder(folder, method))


_CONTEXT = None


def _context():
    """The forkserver context, its server preloading shotoku's separators (made once)."""
    global _CONTEXT
    if _CONTEXT is None:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["shotoku.web.worker"])
        _CONTEXT = ctx
    return _CONTEXT


def _warm_up() -> None:
    from multiprocessing import forkserver

    _context()
    try:
        forkserver.ensure_running()
    except Exception:  # the first job reports the problem
        pass


class JobStore:
    """The jobs of one server: creation from uploads, the worker pool, retention.

    root: folder for the job folders (made if missing); ``None``: a new temporary folder,
        removed by :meth:`close`
    limits: :class:`Limits`
    """

    def __init__(self, root=None, limits: Limits | None = None):
        from .. import registry

        registry.available()  # load every method now, before requests arrive on several threads
        self.limits = limits or Limits()
        self._own_root = root is None
        self.root = Path(tempfile.mkdtemp(prefix="shotoku-serve-")) if root is None else Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=max(1, int(self.limits.workers)),
                                        thread_name_prefix="shotoku-job")
        self._closed = threading.Event()
        self._sweeper = threading.Thread(target=self._sweep_loop, name="shotoku-sweep", daemon=True)
        self._sweeper.start()
        # start the fork server now, so that the first separation does not wait for its imports
        threading.Thread(target=_warm_up, name="shotoku-forkserver", daemon=True).start()

    # -- creation ---------------------------------------------------------------------------
    def create(self, stream, filename) -> Job:
        """A job from an uploaded file object ``stream`` (binary, read to its end).

        Raises :class:`QueueFull` when :attr:`Limits.max_jobs` folders are alive,
        :class:`TooLarge` for a body or a recording over the limits, :class:`NotAudio` for
        anything that does not decode as audio.
        """
        from ..errors import ShotokuError
        from ..io import load, save

        with self._lock:
            if len(self._jobs) >= self.limits.max_jobs:
                raise QueueFull("the server holds as many jobs as it can; try again later")
            job_id = new_id()
            folder = self.root / job_id
            folder.mkdir()
            placeholder = Job(job_id, folder, display_name(filename), 0, 0, 0, "", state="receiving")
            self._jobs[job_id] = placeholder
        try:
            digest = hashlib.sha256()
            size = 0
            with open(folder / UPLOAD, "wb") as f:
                while chunk := stream.read(1 << 20):
                    size += len(chunk)
                    if size > self.limits.max_upload_bytes:
                        raise TooLarge(f"the file is larger than {gib(self.limits.max_upload_bytes)}")
                    digest.update(chunk)
                    f.write(chunk)
            if size == 0:
                raise NotAudio("the file is empty")
            try:
                audio, rate = load(folder / UPLOAD)  # a file cut short is read as far as it goes
            except ShotokuError:
                raise NotAudio("the file does not decode as audio (wav, flac, ogg, mp3, m4a ...)") from None
            if audio.shape[1] > self.limits.max_seconds * rate:
                raise TooLarge(f"the recording is longer than {self.limits.max_seconds:g} s")
            if not fitting_methods(audio.shape[0]):
                raise Unprocessable(f"no method separates {audio.shape[0]}-channel audio")
            save(folder / MIXTURE, audio, rate)
            (folder / UPLOAD).unlink()
        except BaseException:
            with self._lock:
                self._jobs.pop(job_id, None)
            shutil.rmtree(folder, ignore_errors=True)
            raise
        job = Job(job_id, folder, placeholder.name, int(audio.shape[0]), int(rate), int(audio.shape[1]),
                  digest.hexdigest())
        with self._lock:
            self._jobs[job_id] = job
        return job

    # -- access -----------------------------------------------------------------------------
    def get(self, job_id: str) -> Job:
        """The job ``job_id``; :class:`NoSuchJob` for a malformed or unknown id."""
        check_id(job_id)
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None or job.state == "receiving":
            raise NoSuchJob("no such job")
        job.accessed = time.time()
        return job

    def jobs(self) -> list[Job]:
        with self._lock:
            return list(self._jobs.values())

    def queue_position(self, job: Job) -> int | None:
        """How many queued jobs are ahead of ``job`` (None unless it is queued)."""
        if job.state != "queued":
            return None
        with self._lock:
            waiting = sorted((j.updated, j.id) for j in self._jobs.values() if j.state == "queued")
        ids = [i for _, i in waiting]
        return ids.index(job.id) if job.id in ids else 0

    # -- separation -------------------------------------------------------------------------
    def start(self, job_id: str, method: str) -> Job:
        """Queue the separation of a job with ``method`` (one of :func:`fitting_methods`).

        Raises :class:`Unprocessable` for a method that does not fit, :class:`Conflict` for a
        job already queued, running or done, :class:`QueueFull` when the queue is full.
        """
        job = self.get(job_id)
        if method not in {m.name for m in fitting_methods(job.channels)}:
            raise Unprocessable(f"method {method!r} cannot separate this {job.channels}-channel recording")
        with self._lock:
            if job.state not in ("uploaded", "failed"):
                raise Conflict(f"the job is {job.state}")
            busy = sum(j.state in ("queued", "running") for j in self._jobs.values())
            if busy >= self.limits.workers + self.limits.queue:
                raise QueueFull("the separation queue is full; try again later")
            job.state, job.method, job.error = "queued", method, None
            job.updated = time.time()
        (job.folder / ERROR).unlink(missing_ok=True)
        self._pool.submit(self._run, job)
        return job

    def _run(self, job: Job) -> None:
        with self._lock:
            if job.deleted or self._closed.is_set():
                return
            job.state, job.started = "running", time.time()
            job.updated = job.started
            proc = _context().Process(target=_child, args=(str(job.folder), job.method), daemon=True)
            job.process = proc
        try:
            proc.start()
            proc.join(self.limits.timeout_s)
            timed_out = proc.is_alive()
            if timed_out:
                proc.terminate()
                proc.join(5)
                if proc.is_alive():
                    proc.kill()
                    proc.join()
            error = None
            if timed_out:
                error = f"the separation took longer than {self.limits.timeout_s:g} s and was stopped"
            elif proc.exitcode != 0:
                path = job.folder / ERROR
                error = path.read_text(encoding="utf-8").strip() if path.is_file() else \
                    f"the separation stopped (exit status {proc.exitcode})"
        except Exception as exc:  # the process could not start
            error = f"the separation could not start ({exc})"
        finally:
            proc.close() if proc.exitcode is not None else None
        with self._lock:
            job.process = None
            job.state = "failed" if error else "done"
            job.error = error
            job.finished = job.updated = time.time()
            deleted = job.deleted
        if deleted:
            shutil.rmtree(job.folder, ignore_errors=True)

    # -- removal ----------------------------------------------------------------------------
    def delete(self, job_id: str) -> None:
        """Remove a job and its folder; a running separation is stopped."""
        job = self.get(job_id)
        self._remove(job)

    def _remove(self, job: Job) -> None:
        with self._lock:
            job.deleted = True
            self._jobs.pop(job.id, None)
            proc = job.process
        if proc is not None:
            try:
                proc.terminate()
            except (ValueError, AttributeError):  # already closed
                pass
        shutil.rmtree(job.folder, ignore_errors=True)

    def sweep(self, now: float | None = None) -> int:
        """Remove every job idle (not changed, not asked for) for longer than the retention time;
        returns how many. Queued and running jobs are never idle."""
        now = time.time() if now is None else now
        with self._lock:
            old = [j for j in self._jobs.values()
                   if j.state not in ("queued", "running", "receiving") and now - j.idle_since() > self.limits.retention_s]
        for job in old:
            self._remove(job)
        return len(old)

    def _sweep_loop(self) -> None:
        period = min(max(self.limits.retention_s / 4, 0.05), 30.0)
        while not self._closed.wait(period):
            self.sweep()

    def close(self) -> None:
        """Stop the sweeper and every separation, and remove every job folder."""
        self._closed.set()
        for job in self.jobs():
            self._remove(job)
        self._pool.shutdown(wait=True, cancel_futures=True)
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    # -- reading a finished job -------------------------------------------------------------
    def console(self, job: Job) -> dict:
        """The console document of a finished job (``console.json``)."""
        import json

        if job.state != "done":
            raise Conflict(f"the job is {job.state}, not done")
        return json.loads((job.folder / CONSOLE).read_text(encoding="utf-8"))

    def audio_path(self, job: Job, key: str) -> tuple[Path, str]:
        """``(file, download name)`` of ``mixture`` or of source number ``key`` (0-based)."""
        from ..outputs import source_filename

        song = source_filename(Path(job.name).stem or "recording", "")
        if key == "mixture":
            return job.folder / MIXTURE, f"{song}.wav"
        if not key.isdigit():
            raise NoSuchJob("no such audio")
        sources = self.console(job)["sources"]
        k = int(key)
        if k >= len(sources):
            raise NoSuchJob("no such audio")
        return job.folder / STEMS / sources[k]["file"], f"{song}-{sources[k]['file']}"


def expiry_seconds(job: Job, limits: Limits) -> float | None:
    """Seconds left before a job is swept (None while it is queued or running)."""
    if job.state in ("queued", "running"):
        return None
    return max(0.0, job.idle_since() + limits.retention_s - time.time())


def gib(n: float) -> str:
    """A byte count in human units (for messages)."""
    units = ["bytes", "KiB", "MiB", "GiB"]
    k = min(int(math.log(max(n, 1), 1024)), 3)
    return f"{n / 1024 ** k:g} {units[k]}"
