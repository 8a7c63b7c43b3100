"""The lab: one page (`static/`) over a small JSON API under /lab/api.

Runs come from one folder (`--runs`); a request names a run, a picture, an upload or a job
by the name this server gave it, never by a path. Trainings go through one queue
(`jobs.JobQueue`); their progress streams as server-sent events. The same guards as
`serve`: an optional bearer token (the page and its scripts are open, they hold no data;
every API call sends the token), a body cap, errors as {error, message}.
"""

# No `from __future__ import annotations`: FastAPI reads the route annotations.

import asyncio
import json
import queue
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI, File, HTTPException, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field

from glassnet import api
from glassnet._version import __version__
from glassnet.errors import ConfigError, GlassnetError
from glassnet.lab.catalog import Catalog, UnknownName, pictures
from glassnet.lab.forms import options_from_form, task_forms
from glassnet.lab.jobs import JobQueue
from glassnet.lab.uploads import Uploads
from glassnet.serve.app import _add_error_handlers
from glassnet.serve.guards import OPEN_PATHS, BodyLimit, TokenGate
from glassnet.tasks._base import plain
from glassnet.tasks.messages import UploadedFile

STATIC = Path(__file__).parent / "static"
SSE_HEARTBEAT = 15.0  # seconds between keep-alive comments on a quiet event stream
_FIGURES = threading.Lock()  # pyplot is not thread-safe; explanations draw one at a time


class TrainRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    task: str = Field(description="a registered task")
    builtin: str | None = Field(None, description="a built-in data set (see GET /lab/api/tasks)")
    upload: str | None = Field(None, description="the id POST /lab/api/uploads gave a file")
    options: dict[str, Any] = Field(default_factory=dict, description="form fields, by name")


class LoadedRuns:
    """Runs opened for predictions and views, reopened when their weights change."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.cache: dict[str, tuple[float, api.Run]] = {}
        self.lock = threading.Lock()

    def get(self, name: str) -> api.Run:
        folder = self.catalog.folder(name)
        weights = folder / "model.safetensors"
        if not weights.is_file():
            raise ConfigError(
                f"run '{name}' has no trained weights yet",
                fix="Wait for its training to finish its first epoch, or pick another run",
            )
        stamp = weights.stat().st_mtime
        with self.lock:
            cached = self.cache.get(name)
            if cached is None or cached[0] != stamp:
                self.cache[name] = (stamp, api.load(folder, device="cpu"))
            return self.cache[name][1]


def create_lab_app(
    runs: str | Path, *, token: str | None = None, max_body_mb: float = 200.0
) -> Any:
    """The ASGI app of the lab over the runs folder `runs` (created if missing)."""
    root = Path(runs)
    root.mkdir(parents=True, exist_ok=True)
    catalog = Catalog(root)
    loaded = LoadedRuns(catalog)
    jobs = JobQueue(root)
    uploads = Uploads(root / ".lab" / "uploads")

    app = FastAPI(
        title="glassnet lab",
        version=__version__,
        description="Train, compare and look inside glassnet runs.",
        lifespan=_closing(jobs),
    )
    _add_error_handlers(app)

    @app.exception_handler(UnknownName)
    async def not_found(_: Request, exc: UnknownName) -> JSONResponse:
        return JSONResponse(status_code=404, content={"error": "not found", "message": str(exc)})

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    app.mount("/lab/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/health", tags=["service"])
    def health() -> dict[str, Any]:
        return {"status": "ok", "runs": len(catalog.summaries())}

    # ---- runs -----------------------------------------------------------------------------
    @app.get("/lab/api/runs", tags=["runs"])
    def list_runs() -> list[dict[str, Any]]:
        return catalog.summaries()

    @app.get("/lab/api/runs/{name}", tags=["runs"])
    def one_run(name: str) -> dict[str, Any]:
        detail = catalog.detail(name)
        detail["inputs"] = _what_it_takes(loaded, name)
        return detail

    @app.get("/lab/api/runs/{name}/pictures/{picture:path}", tags=["runs"])
    def picture(name: str, picture: str) -> FileResponse:
        return FileResponse(catalog.picture(name, picture), media_type="image/png")

    @app.post("/lab/api/runs/{name}/evaluate", tags=["runs"])
    async def evaluate(name: str) -> dict[str, Any]:
        """Score the run on its own held-out test split (re-drawn from its data and seed)
        and write its evaluation pictures; returns the metrics and the pictures."""
        run = loaded.get(name)

        def scored() -> dict[str, Any]:
            with _FIGURES:
                metrics = run.evaluate(report=True)
            metrics.pop("report", None)  # paths on this server; the pictures are listed
            return {"metrics": plain(metrics), "pictures": pictures(catalog.folder(name))}

        return await asyncio.to_thread(scored)

    @app.post("/lab/api/runs/{name}/views", tags=["look inside"])
    async def net_views(name: str) -> dict[str, Any]:
        run = loaded.get(name)

        def views() -> Any:
            with _FIGURES:
                return run.explain_request(None, with_arrays=True)

        return (await asyncio.to_thread(views)).model_dump()

    @app.post("/lab/api/runs/{name}/look", tags=["look inside"])
    async def look(name: str, request: Request) -> dict[str, Any]:
        """An input sent as the run's request (JSON, or multipart files for file tasks):
        the prediction and every view of it, each with its faithfulness verdict."""
        run = loaded.get(name)
        message = await _request_for(run, request)

        def answer() -> dict[str, Any]:
            with _FIGURES:
                predicted = run.predict_request(message)
                explained = run.explain_request(message, with_arrays=True)
            return {
                "predictions": predicted.predictions,
                "notes": predicted.notes,
                "views": [v.model_dump() for v in explained.views if v.scope != "model"],
            }

        return await asyncio.to_thread(answer)

    @app.post("/lab/api/runs/{name}/maps", tags=["look inside"])
    async def feature_maps(name: str, request: Request) -> dict[str, Any]:
        """For a CNN and one input: each stage's strongest channels and its receptive field
        (the page shows which patch of the input a cell under the pointer saw)."""
        run = loaded.get(name)
        message = await _request_for(run, request)

        def maps() -> dict[str, Any]:
            from glassnet.explain.cnn_probe import stage_maps

            encoded = run.task.encode(run.task.request_source(message), with_targets=False)
            batch = encoded.only(0).batch if len(encoded) > 1 else encoded.batch
            with _FIGURES:
                x = run.task.net_inputs(run.net.eval(), batch)[0]
                try:
                    out = stage_maps(run.net, x)
                except ValueError as e:
                    raise ConfigError(f"run '{name}': {e}", fix="Pick a CNN run") from None
            out["about"] = encoded.names[0] if encoded.names else "input 1"
            return out

        return await asyncio.to_thread(maps)

    # ---- training -------------------------------------------------------------------------
    @app.get("/lab/api/tasks", tags=["train"])
    def tasks() -> list[dict[str, Any]]:
        return task_forms()

    @app.post("/lab/api/uploads", tags=["train"], status_code=201)
    async def upload(file: UploadFile = File(...)) -> dict[str, Any]:  # noqa: B008
        data = await file.read()
        return (await asyncio.to_thread(uploads.add, file.filename or "upload", data)).public()

    @app.post("/lab/api/jobs", tags=["train"], status_code=202)
    async def submit(body: TrainRequest) -> dict[str, Any]:
        if (body.builtin is None) == (body.upload is None):
            raise ConfigError(
                "a training needs its data: a built-in data set or an uploaded file",
                fix="Choose one on the Train page",
            )
        options = options_from_form(body.task, body.options)
        if body.builtin is not None:
            data, label = f"builtin:{body.builtin}", body.builtin
        else:
            sent = uploads.get(str(body.upload))
            data, label = str(sent.path), sent.name
        try:
            job = await asyncio.to_thread(jobs.submit, body.task, data, label, options)
        except GlassnetError as e:  # the data doctor names our folder; name the upload instead
            if body.upload is None or data not in str(e):
                raise
            raise type(e)(str(e).replace(data, label)) from None
        return job.public()

    @app.get("/lab/api/jobs", tags=["train"])
    def list_jobs() -> list[dict[str, Any]]:
        return jobs.listing()

    @app.post("/lab/api/jobs/{job_id}/stop", tags=["train"])
    def stop(job_id: str) -> dict[str, Any]:
        return jobs.stop(job_id).public()

    @app.get("/lab/api/jobs/{job_id}/events", tags=["train"])
    async def events(job_id: str) -> StreamingResponse:
        jobs.get(job_id)  # an unknown id is a 404 now, not an empty stream
        # Folders on this server are not the page's business: uploads by their sent names.
        hide = {str(u.path): u.name for u in uploads.items.values()}
        hide.update({str(root.resolve()): "", str(root): ""})
        return StreamingResponse(
            _event_stream(jobs, job_id, hide),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    @app.get("/lab/api/jobs/{job_id}/weights.png", tags=["train"])
    def live_weights(job_id: str) -> Response:
        """The first layer's weights at the latest epoch of a training (its snapshot)."""
        job = jobs.get(job_id)
        snapshot = job.session.snapshots
        if snapshot is None or not snapshot.is_file():
            raise HTTPException(404, "No snapshot yet: the first one is written at the start.")
        from safetensors.torch import load_file

        from glassnet.explain.figures import png_bytes, weights_figure

        saved = load_file(snapshot)
        epochs = sorted(int(k.rsplit("_", 1)[1]) for k in saved if k.startswith("weights_"))
        if not epochs:
            raise HTTPException(404, "This net has no first-layer weights to show.")
        with _FIGURES:
            fig = weights_figure(
                saved[f"weights_epoch_{epochs[-1]}"].numpy(),
                f"first layer after epoch {epochs[-1]}"
                if epochs[-1]
                else "first layer at the start",
            )
            return Response(png_bytes(fig), media_type="image/png")

    limited = BodyLimit(app, int(max_body_mb * 1e6)) if max_body_mb else app
    return TokenGate(limited, token, open_paths=(*OPEN_PATHS, "/", "/lab/static/"))


def _closing(jobs: JobQueue) -> Any:
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        jobs.close()

    return lifespan


def _what_it_takes(loaded: LoadedRuns, name: str) -> dict[str, Any] | None:
    """How the Look-inside form asks for an input: files or a JSON body, with an example."""
    try:
        run = loaded.get(name)
    except ConfigError:
        return None
    model = run.task.request_model
    return {
        "family": run.spec.net.name.split(".")[0],
        "transport": model.transport,
        "what": getattr(model, "what", ""),
        "example": run.task.request_example(),
        "info": run.info().model_dump(),
    }


async def _request_for(run: api.Run, request: Request) -> Any:
    """The body as the run's own request model (the same one `serve` takes)."""
    model = run.task.request_model
    given = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if model.transport == "multipart":
        if given != "multipart/form-data":
            raise HTTPException(415, f"This run takes {model.what} as multipart files 'files'.")
        form = await request.form()
        files = [f for f in form.getlist("files") if hasattr(f, "read")]
        if not files:
            raise ConfigError("no files were sent", fix="Send them as form fields named 'files'")
        return model(
            files=[
                UploadedFile(name=Path(f.filename or "upload").name[:255], data=await f.read())
                for f in files
            ]
        )
    if given != "application/json":
        raise HTTPException(415, "This run takes a JSON body (Content-Type: application/json).")
    try:
        body = json.loads(await request.body())
    except ValueError:
        raise ConfigError("the body is not valid JSON", fix="Send a JSON object") from None
    return model.model_validate(body)


async def _event_stream(jobs: JobQueue, job_id: str, hide: dict[str, str]) -> AsyncIterator[str]:
    """The job's events as SSE: every event so far, then each new one, then the end. While
    the job waits in the queue, its place is sent instead."""
    job = jobs.get(job_id)
    while job.status == "queued":
        position = next((i for i, j in enumerate(jobs.waiting(), 1) if j is job), None)
        yield _sse("queued", {"position": position})
        await asyncio.sleep(1.0)
    if job.status == "cancelled":
        yield _sse("cancelled", {})
        return
    feed = jobs.events(job_id)
    quiet_since = time.monotonic()
    while True:
        try:
            event = feed.get_nowait()
        except queue.Empty:
            # failed before the session said so (e.g. its folder could not be made)
            if job.status == "failed" and not any(e.kind == "failed" for e in job.session.history):
                yield _sse("failed", {"error": _scrub(job.error or "", hide)})
                return
            if time.monotonic() - quiet_since > SSE_HEARTBEAT:
                quiet_since = time.monotonic()
                yield ": still here\n\n"
            await asyncio.sleep(0.1)
            continue
        quiet_since = time.monotonic()
        data = dict(event.data)
        data.pop("path", None)  # a folder on the server: the page knows runs by name
        if event.kind == "finished":
            data["run"] = job.run
        yield _sse(event.kind, json.loads(_scrub(json.dumps(data, default=str), hide)))
        if event.kind in ("finished", "failed"):
            return


def _scrub(text: str, hide: dict[str, str]) -> str:
    for secret, shown in sorted(hide.items(), key=lambda kv: -len(kv[0])):
        if secret:
            text = text.replace(secret + "/", shown).replace(secret, shown)
    return text


def _sse(kind: str, data: dict[str, Any]) -> str:
    return f"event: {kind}\ndata: {json.dumps(data, default=str)}\n\n"
