"""The REST service: a FastAPI app over runs loaded at start-up.

Each model gets its own routes, typed by its task's request model
(`Task.request_model`), so the OpenAPI document says exactly what each model takes and a
new task needs no new endpoint code. Nothing in a request ever names a file: models are
the runs given at start-up, and requests carry data only.
"""

# No `from __future__ import annotations` here: FastAPI reads the request models from the
# annotations of the route functions made at start-up, which must be real classes.

import asyncio
import functools
import importlib
import json
import logging
import re
import threading
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qsl

import orjson
from fastapi import Body, Depends, FastAPI, File, HTTPException, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model
from starlette.exceptions import HTTPException as StarletteHTTPException

from glassnet._version import __version__
from glassnet.api import Run
from glassnet.errors import GlassnetError
from glassnet.serve.batching import MicroBatcher
from glassnet.serve.guards import BearerToken, BodyLimit, TokenGate
from glassnet.serve.lanes import FastLane, JsonAnswer
from glassnet.tasks.messages import (
    ExplainResponse,
    ModelInfo,
    PredictResponse,
    UploadedFile,
)

log = logging.getLogger("glassnet.serve")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
STATUS_WORDS = {
    400: "bad request",
    401: "unauthorized",
    404: "not found",
    405: "method not allowed",
    413: "request too large",
    415: "unsupported media type",
    422: "invalid input",
}


class ServedModel:
    """One run behind the service: a micro-batcher per set of decode options (requests are
    only joined when they decode alike), and one lock so that predictions and explanations
    (which add hooks and switch RNNs to their traced loop) never overlap."""

    def __init__(self, name: str, run: Run, max_batch: int, max_wait_ms: float) -> None:
        self.name = name  # the name it is served under (may differ from the run folder's)
        self.run = run
        self.lock = threading.Lock()
        self.max_batch, self.max_wait = max_batch, max_wait_ms / 1e3
        self.batchers: dict[tuple, MicroBatcher] = {}

    def info(self) -> ModelInfo:
        return self.run.info().model_copy(update={"name": self.name})

    async def predict(self, request: Any, options: BaseModel | None) -> PredictResponse:
        decoding = options.model_dump(exclude_none=True) if options is not None else {}
        key = tuple(sorted(decoding.items()))
        if key not in self.batchers:
            self.batchers[key] = MicroBatcher(
                functools.partial(self._answer, decoding=decoding),
                max_items=self.max_batch,
                max_wait=self.max_wait,
                lock=self.lock,
                notes=self.run.request_notes,
            )
        return await self.batchers[key].submit(request)

    def _answer(self, request: Any, decoding: dict[str, Any]) -> PredictResponse:
        # called by a batcher, under self.lock
        answer = self.run.predict_request(request, **decoding)
        return answer.model_copy(update={"model": self.name})

    def explain(self, request: Any) -> ExplainResponse:
        with self.lock, _FIGURES:
            return self.run.explain_request(request).model_copy(update={"model": self.name})


_FIGURES = threading.Lock()  # matplotlib's pyplot is not thread-safe


def create_app(
    runs: dict[str, Run],
    *,
    token: str | None = None,
    max_body_mb: float = 10.0,
    max_batch: int = 256,
    max_wait_ms: float = 0.0,
) -> Any:
    """The ASGI app serving `runs` ({name: Run}); wrap-free use: `uvicorn.run(app)`."""
    for name in runs:
        if not NAME.match(name):
            raise GlassnetError(
                f"'{name}' cannot be a model name in a URL",
                fix="Use letters, digits, '.', '_' and '-' (e.g. iris=runs/tabular-1)",
            )
    served = {name: ServedModel(name, run, max_batch, max_wait_ms) for name, run in runs.items()}
    auth = Depends(BearerToken(token))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> Any:
        yield
        await asyncio.gather(*(b.close() for s in served.values() for b in s.batchers.values()))

    app = FastAPI(
        lifespan=lifespan,
        title="glassnet",
        version=__version__,
        description="Predictions and explanations from trained glassnet runs. Models: "
        + ", ".join(f"`{n}` ({s.run.spec.task})" for n, s in served.items()),
    )
    app.state.models = served
    _add_error_handlers(app)

    @app.get("/health", tags=["service"])
    async def health() -> dict[str, Any]:  # async: no worker-thread hop for a constant
        return {"status": "ok", "models": len(served)}

    @app.get("/v1/models", tags=["service"], dependencies=[auth])
    def list_models() -> list[ModelInfo]:
        return [s.info() for s in served.values()]

    lanes: dict[str, JsonAnswer] = {}  # the JSON predict routes, for the fast lane
    for name, model in served.items():
        _add_model_routes(app, name, model, auth, lanes)

    @app.api_route(
        "/v1/models/{name}/{action}",
        methods=["POST"],
        include_in_schema=False,
        dependencies=[auth],
    )
    def unknown_model(name: str, action: str) -> None:
        if name in served:
            raise HTTPException(
                404, f"Models answer POST .../predict and .../explain, not '{action}'."
            )
        _not_found(name, served)

    @app.get("/v1/models/{name}", include_in_schema=False, dependencies=[auth])
    def unknown_model_info(name: str) -> None:
        _not_found(name, served)

    inner = FastLane(app, lanes)
    limited = BodyLimit(inner, int(max_body_mb * 1e6)) if max_body_mb else inner
    return TokenGate(limited, token)


def _not_found(name: str, served: dict[str, ServedModel]) -> None:
    from glassnet.errors import did_you_mean

    known = ", ".join(served) or "none"
    raise HTTPException(
        404,
        f"There is no model '{name}' on this server.{did_you_mean(name, served)} "
        f"Models: {known} (GET /v1/models lists them).",
    )


def _add_model_routes(
    app: FastAPI, name: str, model: ServedModel, auth: Any, lanes: dict[str, JsonAnswer]
) -> None:
    run = model.run
    tag = f"{name} ({run.spec.task})"
    base = f"/v1/models/{name}"
    summary = f"{run.spec.task} model '{name}' ({run.spec.net.name})"

    @app.get(base, tags=[tag], dependencies=[auth], summary=f"What {name} expects")
    def info() -> ModelInfo:
        return model.info()

    if run.task.service:  # the task's own routes (faces: verify, identify, enrol)
        importlib.import_module(run.task.service).add_routes(app, base, model, auth, tag)

    request_model = run.task.request_model
    # Decode options (beam width, thresholds) travel as query parameters: ?beam=4.
    options_model = _optional(run.task.decode_options)
    Options = Annotated[options_model, Query()]  # noqa: N806

    if request_model.transport == "multipart":
        Files = Annotated[  # noqa: N806
            list[UploadFile], File(description=f"{request_model.what}, as form fields 'files'")
        ]

        async def uploaded(files: list[UploadFile]) -> Any:
            return request_model(files=[await read_upload(f) for f in files])

        async def predict_files(files: Files, options: Options) -> Response:
            return fast_json(await model.predict(await uploaded(files), options))

        async def explain_files(files: Files) -> ExplainResponse:
            return await asyncio.to_thread(model.explain, await uploaded(files))

        content = "multipart/form-data"
        _post_pair(
            app,
            base,
            tag,
            summary,
            [auth, Depends(require_content_type(content))],
            predict_files,
            explain_files,
        )
        return

    if request_model.batch_field:
        _add_stream_route(app, base, model, auth, tag, summary, Options)

    example = run.task.request_example()
    Body_ = Annotated[  # noqa: N806
        request_model,
        Body(openapi_examples={"this model": {"value": example}} if example else None),
    ]

    async def explain(body: Body_) -> ExplainResponse:
        return await asyncio.to_thread(model.explain, body)

    # The hot path reads the request itself: FastAPI's parameter machinery (dependencies,
    # body and query models) cost ~0.2 ms a request, as much as a small net's whole pass.
    # Its API document is written out instead (`_documented`), the same as FastAPI's; the
    # fast lane (`lanes.FastLane`) calls `answer` before FastAPI's routing even starts.
    async def answer(body: bytes, query: str) -> bytes:
        given = dict(parse_qsl(query, keep_blank_values=True)) if query else None
        options = options_model.model_validate(given) if given is not None else None
        return json_bytes(await model.predict(request_model.from_json(body), options))

    async def predict(request: Request) -> Response:
        await check_json(request)
        body = await answer(await request.body(), request.url.query)
        return Response(body, media_type="application/json")

    lanes[f"{base}/predict"] = answer

    check_json = require_content_type("application/json")
    _post_pair(
        app,
        base,
        tag,
        summary,
        [auth, Depends(check_json)],
        predict,
        explain,
        # TokenGate checks every request first; the route repeats it only when a token is set
        predict_deps=[auth] if auth.dependency.token else [],
        predict_doc=_documented(request_model, options_model, example),
    )


def _documented(
    request_model: type[BaseModel], options_model: type[BaseModel], example: Any
) -> dict[str, Any]:
    """The OpenAPI body and query parameters of a predict route that reads its request
    itself: what FastAPI writes for a typed body and query model."""
    schema = request_model.model_json_schema()
    assert "$defs" not in schema, "JSON request models must be self-contained"
    body: dict[str, Any] = {"schema": schema}
    if example:
        body["examples"] = {"this model": {"value": example}}
    props = options_model.model_json_schema().get("properties", {})
    parameters = [
        {
            "name": name,
            "in": "query",
            "required": False,
            "schema": {k: v for k, v in spec.items() if k != "description"},
            **({"description": spec["description"]} if "description" in spec else {}),
        }
        for name, spec in props.items()
    ]
    return {
        "requestBody": {"required": True, "content": {"application/json": body}},
        "parameters": parameters,
    }


def _post_pair(
    app: FastAPI,
    base: str,
    tag: str,
    summary: str,
    deps: list[Any],
    predict: Any,
    explain: Any,
    predict_deps: list[Any] | None = None,
    predict_doc: dict[str, Any] | None = None,
) -> None:
    """A model's POST .../predict and .../explain, documented with their answer models.
    A predict route that reads its request itself brings its own dependencies and API
    document (`predict_deps`, `predict_doc`)."""
    for path, fn, what, answer, route_deps, doc in (
        (
            f"{base}/predict",
            predict,
            "Predict",
            PredictResponse,
            deps if predict_deps is None else predict_deps,
            predict_doc,
        ),
        (f"{base}/explain", explain, "Explain", ExplainResponse, deps, None),
    ):
        app.post(
            path,
            tags=[tag],
            dependencies=route_deps,
            summary=f"{what}: {summary}",
            responses=ERRORS,
            response_model=answer,
            openapi_extra=doc,
        )(fn)


STREAM_CHUNK = 2048  # items answered per forward pass of a stream


def _add_stream_route(
    app: FastAPI,
    base: str,
    model: ServedModel,
    auth: Any,
    tag: str,
    summary: str,
    options_type: Any,
) -> None:
    """POST .../predict/stream: NDJSON in (one item of the request's batch field per line:
    a row, a text), NDJSON out (one answer per line, in order), answered in chunks so a
    large input never sits in memory twice. A bad line ends the stream with an error line
    naming it; the answers before it stand."""
    request_model = model.run.task.request_model
    field = request_model.batch_field
    assert field is not None

    async def predict_stream(request: Request, options: options_type) -> StreamingResponse:  # type: ignore[valid-type]
        given = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if given not in ("application/x-ndjson", "application/jsonl", "text/plain"):
            raise HTTPException(
                415,
                "This endpoint takes NDJSON (Content-Type: application/x-ndjson): one "
                f"{field[:-1] if field.endswith('s') else field} per line.",
            )
        body = await request.body()

        async def answers() -> Any:
            chunk: list[Any] = []

            async def flush() -> str:
                answer = await model.predict(request_model(**{field: chunk}), options)
                return "".join(json.dumps(r, default=str) + "\n" for r in answer.predictions)

            def failed(where: str, e: Exception) -> str:
                first = str(e).splitlines()[0]
                return json.dumps({"error": "bad input", "message": f"{where}: {first}"}) + "\n"

            last = 0
            try:
                for last, line in enumerate(body.splitlines(), 1):  # noqa: B007
                    if not line.strip():
                        continue
                    try:
                        chunk.append(json.loads(line))
                    except ValueError as e:  # answer what came before, then say where
                        if chunk:
                            yield await flush()
                        yield failed(f"line {last}", e)
                        return
                    if len(chunk) == STREAM_CHUNK:
                        yield await flush()
                        chunk = []
                if chunk:
                    yield await flush()
            except (ValidationError, GlassnetError) as e:  # a chunk the model refused
                yield failed(f"in the lines up to {last}", e)

        return StreamingResponse(answers(), media_type="application/x-ndjson")

    app.post(
        f"{base}/predict/stream",
        tags=[tag],
        dependencies=[auth],
        summary=f"Predict, NDJSON in and out: {summary}",
        responses=ERRORS,
    )(predict_stream)


def json_bytes(answer: BaseModel) -> bytes:
    """An answer serialised once, by orjson (FastAPI would validate the returned model
    against the route's response model and serialise it again: ~0.3 ms a request)."""
    return orjson.dumps(
        answer.model_dump(), option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
    )


def fast_json(answer: BaseModel) -> Response:
    return Response(json_bytes(answer), media_type="application/json")


class ErrorBody(BaseModel):
    error: str = Field(description="the kind of error, e.g. 'invalid input'")
    message: str = Field(description="what is wrong and how to fix it, in one paragraph")


ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": text}
    for code, text in {
        401: "no or a wrong bearer token (when the server has one)",
        408: "the body did not arrive in time",
        413: "the body is larger than the server's --max-body-mb",
        415: "the wrong Content-Type (JSON bodies: application/json; files: multipart)",
        422: "the body or a value in it does not fit this model (the message says which)",
    }.items()
}


def _optional(model: type[BaseModel]) -> type[BaseModel]:
    """The decode options with every field optional (absent = the run's own setting)."""
    fields = {
        name: (f.annotation | None, Field(None, description=f.description))
        for name, f in model.model_fields.items()
    }
    return create_model(f"{model.__name__}Query", __config__=ConfigDict(extra="forbid"), **fields)


async def read_upload(f: UploadFile) -> UploadedFile:
    name = Path(f.filename or "upload").name[:255] or "upload"  # a label, never a path
    return UploadedFile(name=name, data=await f.read())


def require_content_type(expected: str) -> Any:
    async def check(request: Request) -> None:  # async: FastAPI runs sync ones in a thread
        given = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if given != expected:
            raise HTTPException(
                415,
                f"This endpoint takes {expected}, not {given or 'a body without a type'}. "
                + (
                    "Send the files as multipart form fields named 'files'."
                    if expected.startswith("multipart")
                    else "Send a JSON object with Content-Type: application/json."
                ),
            )

    return check


def _problems(errors: list[Any]) -> list[dict[str, str]]:
    out = []
    for e in errors:
        if e.get("type") == "json_invalid":  # loc holds the character position
            at = [p for p in e.get("loc", ()) if isinstance(p, int)]
            where = f"character {at[0]}" if at else "body"
            out.append({"where": where, "problem": "the body is not valid JSON"})
            continue
        where = ".".join(str(p) for p in e.get("loc", ()) if p != "body") or "body"
        out.append({"where": where, "problem": str(e.get("msg", "invalid"))})
    return out


def _add_error_handlers(app: FastAPI) -> None:
    def invalid(problems: list[dict[str, str]]) -> JSONResponse:
        first = "; ".join(f"{p['where']}: {p['problem']}" for p in problems[:3])
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        return JSONResponse(
            status_code=422,
            content={
                "error": "invalid request",
                "message": f"The request does not match what this endpoint takes: {first}{more}. "
                "See /docs for the expected body.",
                "problems": problems,
            },
        )

    @app.exception_handler(RequestValidationError)
    async def on_request_validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return invalid(_problems(list(exc.errors())))

    @app.exception_handler(ValidationError)
    async def on_validation(_: Request, exc: ValidationError) -> JSONResponse:
        return invalid(_problems(list(exc.errors())))

    @app.exception_handler(GlassnetError)
    async def on_bad_input(_: Request, exc: GlassnetError) -> JSONResponse:
        return JSONResponse(status_code=422, content={"error": "bad input", "message": str(exc)})

    @app.exception_handler(StarletteHTTPException)
    async def on_http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(
            status_code=exc.status_code,
            content={"error": STATUS_WORDS.get(exc.status_code, "error"), "message": exc.detail},
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def on_ours(request: Request, exc: Exception) -> JSONResponse:
        log.exception("failed on %s %s", request.method, request.url.path)
        return JSONResponse(
            status_code=500,
            content={
                "error": "internal error",
                "message": "The server failed on this request; this is a glassnet bug, not "
                "your input. The server's log has the details.",
            },
        )
