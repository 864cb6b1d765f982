"""Run independent tasks here, on a local Dask cluster or on an existing one; resumable.

A *task* is any picklable object with a ``key`` (a string naming it for good: same key, same
result). :class:`Runner` sends ``func(task)`` to the workers and hands each result back to the
caller's ``on_result`` in this process as soon as it arrives, so results are written task by
task: killing the run loses only the tasks in flight. A task whose function raises (or whose
worker dies) is handed to ``on_error`` with the error text, and the others go on.

:class:`ResultStore` is the per-task record the study uses: ``DIR/tasks/<key>.json`` for a task
that succeeded, ``DIR/failed/<key>.json`` for one that failed (retried on the next run).

Where the tasks run:

- ``Runner(inline=True)``: one by one in this process (no Dask needed)
- ``Runner()`` / ``Runner(workers=N)``: a local Dask cluster of N worker processes (default:
  one per core), one thread each, each with a memory limit (default: the machine's memory
  divided among the workers)
- ``Runner(scheduler="tcp://HOST:PORT")``: the workers of an existing Dask cluster
  (``dask scheduler`` / ``dask worker``); they must be able to import shotoku and read the
  files the tasks name (a shared file system)
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from ..errors import ParameterError, ShotokuError

#: How long to wait for an existing scheduler to answer (seconds).
CONNECT_TIMEOUT = 20


def _distributed():
    try:
        import distributed
    except ModuleNotFoundError:
        raise ShotokuError("running on Dask needs dask.distributed: pip install 'shotoku[study]'") from None
    return distributed


def describe_error(exc: BaseException) -> str:
    """One line naming an exception: ``Type: message`` (first line of the message)."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


@dataclass
class Outcome:
    """What a run did: how many tasks were computed, skipped (done before) and failed."""

    total: int = 0
    skipped: int = 0
    computed: int = 0
    failed: int = 0
    seconds: float = 0.0
    workers: int = 0
    where: str = ""
    machines: list = None


    def as_dict(self) -> dict:
        return dict(self.__dict__)


def guarded(func: Callable, task) -> dict:
    """Run ``func(task)`` on a worker; an exception becomes ``{"error": ..., "traceback": ...}``.

    Returning the error instead of raising keeps Dask from retrying or logging it as a crash, and
    carries the traceback back to the record.
    """
    try:
        return {"result": func(task)}
    except Exception as exc:  # recorded, never fatal: the other tasks go on
        return {"error": describe_error(exc), "traceback": traceback.format_exc(limit=20)}


class Runner:
    """Where tasks run: this process, a local Dask cluster, or an existing cluster.

    scheduler: address of an existing Dask scheduler (``tcp://HOST:PORT``); None: a local one
    workers: worker processes of the local cluster (default: one per core)
    memory_limit: per local worker: bytes, a string such as ``"4GB"``, or ``"auto"`` (the
        machine's memory divided among the workers)
    inline: run in this process, one task after the other (no Dask)

    Use as a context manager; the local cluster is closed on exit.
    """

    def __init__(self, scheduler: str | None = None, workers: int | None = None,
                 memory_limit: str | int = "auto", inline: bool = False):
        if scheduler and (inline or workers):
            raise ParameterError("--scheduler runs on an existing cluster; --workers is for a local one, give one of them")
        if workers is not None and workers < 1:
            raise ParameterError(f"--workers must be at least 1, got {workers}")
        self.scheduler = scheduler
        self.workers = workers
        self.memory_limit = memory_limit
        self.inline = inline
        self.client = None
        self.cluster = None

    def __enter__(self) -> "Runner":
        if self.inline:
            return self
        distributed = _distributed()
        import logging

        logging.getLogger("distributed").setLevel(logging.ERROR)
        if self.scheduler:
            try:
                self.client = distributed.Client(self.scheduler, timeout=CONNECT_TIMEOUT)
            except OSError as exc:
                raise ShotokuError(f"cannot reach the Dask scheduler at {self.scheduler}: {describe_error(exc)}; "
                                   "start it with 'dask scheduler' and check the address") from None
        else:
            n = self.workers or os.cpu_count() or 1
            self.cluster = distributed.LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                                    memory_limit=self.memory_limit, dashboard_address=":0",
                                                    silence_logs=40)
            self.client = distributed.Client(self.cluster)
        return self

    def __exit__(self, *exc) -> None:
        if self.client is not None:
            self.client.close()
        if self.cluster is not None:
            self.cluster.close()
        self.client = self.cluster = None

    @property
    def where(self) -> str:
        """Where the tasks run, in words."""
        if self.inline:
            return "this process"
        if self.scheduler:
            return f"Dask cluster at {self.scheduler} ({self.n_workers} workers)"
        n = self.n_workers
        return f"local Dask cluster ({n} worker process{'' if n == 1 else 'es'})"

    def machines(self) -> list[dict]:
        """The workers: host, threads and memory limit (bytes) of each (this process when inline)."""
        if self.inline or self.client is None:
            return [{"host": socket.gethostname(), "threads": 1, "memory_limit": None}]
        workers = self.client.scheduler_info().get("workers", {})
        return [{"host": w.get("host"), "threads": w.get("nthreads"), "memory_limit": w.get("memory_limit")}
                for w in workers.values()]

    @property
    def n_workers(self) -> int:
        if self.inline or self.client is None:
            return 1
        return len(self.client.scheduler_info().get("workers", {}))

    def map(self, func: Callable[[Any], Any], tasks: Iterable, on_result: Callable[[Any, Any], None],
            on_error: Callable[[Any, str, str], None], desc: str = "tasks", progress: bool = True) -> Outcome:
        """Run ``func`` on every task; report each one as it finishes.

        func: a module-level function (workers import it by name) taking one task
        tasks: the tasks to compute (skip the done ones before calling)
        on_result: ``on_result(task, value)`` in this process, as each task succeeds
        on_error: ``on_error(task, error line, traceback)`` for a task that raised or whose
            worker died
        Returns an :class:`Outcome` (``computed``, ``failed``, ``seconds``).
        """
        from tqdm import tqdm

        tasks = list(tasks)
        out = Outcome(total=len(tasks), workers=self.n_workers, where=self.where, machines=self.machines())
        t0 = time.perf_counter()
        tty = sys.stderr.isatty()
        bar = tqdm(total=len(tasks), desc=desc, unit="task", disable=not progress or not tasks,
                   mininterval=0.5 if tty else 30.0, file=sys.stderr)

        def report(task, packed):
            if "error" in packed:
                out.failed += 1
                on_error(task, packed["error"], packed.get("traceback", ""))
            else:
                out.computed += 1
                on_result(task, packed["result"])
            bar.update(1)

        try:
            if self.inline:
                for task in tasks:
                    report(task, guarded(func, task))
            else:
                distributed = _distributed()
                futures = {}
                for task in tasks:
                    future = self.client.submit(guarded, func, task, key=f"{desc}-{task.key}", pure=False)
                    futures[future] = task
                for future in distributed.as_completed(futures):
                    task = futures.pop(future)
                    try:
                        packed = future.result()
                    except Exception as exc:  # the worker died (memory limit, crash) or the task was lost
                        packed = {"error": describe_error(exc), "traceback": ""}
                    report(task, packed)
        finally:
            bar.close()
        out.seconds = time.perf_counter() - t0
        return out


class ResultStore:
    """Per-task JSON records under a folder: ``tasks/<key>.json`` done, ``failed/<key>.json`` failed.

    A record is written atomically, so a killed run leaves whole records only. A task is done
    when its record exists; a failed task is not done (the next run tries it again).
    """

    def __init__(self, folder):
        self.folder = Path(folder)
        self.done_dir = self.folder / "tasks"
        self.failed_dir = self.folder / "failed"

    def done(self, key: str) -> bool:
        return (self.done_dir / f"{key}.json").is_file()

    def write(self, key: str, record: dict) -> Path:
        from ..io import write_json

        path = write_json(self.done_dir / f"{key}.json", record)
        try:
            (self.failed_dir / f"{key}.json").unlink()
        except FileNotFoundError:
            pass
        return path

    def fail(self, key: str, record: dict) -> Path:
        from ..io import write_json

        return write_json(self.failed_dir / f"{key}.json", record)

    def read(self, key: str) -> dict | None:
        """The done record of ``key``, or None."""
        return self._read(self.done_dir / f"{key}.json")

    def failure(self, key: str) -> dict | None:
        """The failure record of ``key``, or None."""
        return self._read(self.failed_dir / f"{key}.json")

    @staticmethod
    def _read(path: Path) -> dict | None:
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except ValueError:  # never written half (atomic), but a hand-edited file may be broken
            return None
