"""The lab's training queue: one training at a time, the others wait in order.

A job is validated when it is submitted (a bad option or a data file without the target
is refused then, with the CLI's own message) and becomes a `TrainingSession` whose events
the page watches. Each job writes a fresh run folder under the lab's runs folder.
"""

from __future__ import annotations

import itertools
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from glassnet import api
from glassnet.engine.rundir import RunDir
from glassnet.engine.session import Event, TrainingSession
from glassnet.errors import RunError
from glassnet.lab.catalog import UnknownName

MAX_WAITING = 8  # jobs queued behind the running one; more is refused, not piled up


@dataclass
class Job:
    id: str
    task: str
    data: str  # what the page shows: a built-in name or the uploaded file's name
    options: dict[str, Any]
    session: TrainingSession
    status: str = "queued"  # -> running -> finished | stopped | failed | cancelled
    run: str | None = None  # the run folder's name once it exists
    error: str | None = None
    created: float = field(default_factory=time.time)

    def state(self) -> str:
        """The session says it ended a moment before the queue's worker notes it."""
        if self.status == "running" and self.session.status in ("finished", "stopped", "failed"):
            return self.session.status
        return self.status

    def public(self, position: int | None = None) -> dict[str, Any]:
        return {
            "id": self.id,
            "task": self.task,
            "data": self.data,
            "options": self.options,
            "status": self.state(),
            "run": self.run,
            "error": self.error,
            "created": self.created,
            "position": position,
        }


class JobQueue:
    """Trainings submitted from the page, run one after another in a worker thread."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.jobs: dict[str, Job] = {}
        self._waiting: queue.Queue[Job | None] = queue.Queue()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._worker = threading.Thread(target=self._work, name="glassnet-lab-queue", daemon=True)
        self._worker.start()

    def submit(self, task: str, data: str, label: str, options: dict[str, Any]) -> Job:
        """Validate now (raises the spec's ConfigError), run when the queue reaches it."""
        if len(self.waiting()) >= MAX_WAITING:
            raise RunError(
                f"{MAX_WAITING} trainings are already waiting",
                fix="Wait for one to finish, or stop one on the Train page",
            )
        session = api.session(task, data, **options)
        with self._lock:
            job = Job(f"job-{next(self._ids)}", task, label, options, session)
            self.jobs[job.id] = job
        self._waiting.put(job)
        return job

    def get(self, job_id: str) -> Job:
        if job_id not in self.jobs:
            raise UnknownName(f"there is no training '{job_id}'", fix="See GET /lab/api/jobs")
        return self.jobs[job_id]

    def waiting(self) -> list[Job]:
        return [j for j in self.jobs.values() if j.status == "queued"]

    def listing(self) -> list[dict[str, Any]]:
        waiting = self.waiting()
        return [
            j.public(waiting.index(j) + 1 if j in waiting else None)
            for j in sorted(self.jobs.values(), key=lambda j: j.created, reverse=True)
        ]

    def stop(self, job_id: str) -> Job:
        job = self.get(job_id)
        if job.status == "queued":
            job.status = "cancelled"
        elif job.status == "running":
            job.session.stop()
        return job

    def events(self, job_id: str) -> queue.Queue[Event]:
        return self.get(job_id).session.subscribe()

    def close(self) -> None:
        for job in self.jobs.values():
            if job.status == "running":
                job.session.stop()
        self._waiting.put(None)

    def _work(self) -> None:
        while True:
            job = self._waiting.get()
            if job is None:
                return
            if job.status != "queued":  # cancelled while it waited
                continue
            job.status = "running"
            try:
                # The folder is chosen when the job starts, so two queued jobs of one task
                # never pick the same name.
                job.session.out = RunDir.create(None, job.task, root=self.root).path
                job.run = Path(job.session.out).name
                job.session.run()
                job.status = job.session.status
            except BaseException as e:  # the session told its watchers with a "failed" event
                job.status, job.error = "failed", str(e)
