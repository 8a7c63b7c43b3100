"""Request and response models shared by the Python API (`Run.predict_request`,
`Run.explain_request`, `Run.info`) and the REST service, which serves exactly these.

A task names its request model (`Task.request_model`); the service builds each model's
routes from it, so a new task is a registration, not new endpoints.
"""

from __future__ import annotations

from typing import Any, ClassVar

import orjson
from pydantic import BaseModel, ConfigDict, Field

MAX_ROWS = 10_000  # per request; larger jobs belong to `glassnet predict` on a file
MAX_FILES = 64

Scalar = str | int | float | bool | None
_NON_FLOATS = frozenset({str, int, bool, type(None)})
# orjson reads an integer beyond 64 bits as a float (pydantic keeps it an int): floats that
# large are left to pydantic
_BIG = 2.0**63


class Request(BaseModel):
    """Base of every request: unknown fields are refused, not ignored."""

    model_config = ConfigDict(extra="forbid")
    # The list field that requests of this kind can be concatenated on (micro-batching);
    # None when requests must be answered one at a time.
    batch_field: ClassVar[str | None] = None
    # How it travels over HTTP: a JSON body, or multipart form files (`FilesRequest`).
    transport: ClassVar[str] = "json"

    @classmethod
    def from_json(cls, body: bytes | str) -> Any:
        """`model_validate_json`: the request a JSON body holds, or a ValidationError."""
        return cls.model_validate_json(body)


def _rows_of_scalars(body: bytes | str, field: str, most: int) -> list[dict[str, Any]] | None:
    """The rows of a body {field: [{key: scalar, ...}, ...]} when it is exactly that and
    within `most` rows, parsed by orjson and checked value by value (1 000 rows: 7.3 ms
    against pydantic's 10.2 ms); None for anything else (pydantic then validates it and
    words the error)."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if type(data) is not dict or len(data) != 1 or type(rows := data.get(field)) is not list:
        return None
    if not 1 <= len(rows) <= most or not all(type(r) is dict for r in rows):
        return None
    if not all(
        type(v) in _NON_FLOATS or (type(v) is float and -_BIG < v < _BIG)
        for r in rows
        for v in r.values()
    ):
        return None
    return rows


class RowsRequest(Request):
    """Rows of a table, as {column: value}; the target column may be left out."""

    batch_field: ClassVar[str | None] = "rows"
    rows: list[dict[str, Scalar]] = Field(
        min_length=1,
        max_length=MAX_ROWS,
        description="One object per row: {column: value}",
        examples=[[{"age": 42, "contract": "two-year"}]],
    )

    @classmethod
    def from_json(cls, body: bytes | str) -> Any:
        rows = _rows_of_scalars(body, "rows", MAX_ROWS)
        return cls.model_validate_json(body) if rows is None else cls.model_construct(rows=rows)


class HistoryRequest(Request):
    """The latest history of one or more series (time, target, covariates[, id]), oldest
    first; forecasts start after its last time."""

    history: list[dict[str, Scalar]] = Field(
        min_length=1,
        max_length=100_000,
        description="One object per time step: {time column: ..., target column: ..., ...}",
        examples=[[{"year": 2000, "sunspots": 119.6}, {"year": 2001, "sunspots": 111.0}]],
    )


class TextsRequest(Request):
    """Texts to classify or translate, one string each."""

    batch_field: ClassVar[str | None] = "texts"
    texts: list[str] = Field(
        min_length=1,
        max_length=MAX_ROWS,
        description="One text per item",
        examples=[["three hundred and twelve"]],
    )


class UploadedFile(BaseModel):
    name: str = Field(max_length=255, description="the file name, for messages and answers")
    data: bytes = Field(description="the file's bytes (an encoded image, audio, ...)")


UploadedImage = UploadedFile


class FilesRequest(Request):
    """Files sent as multipart form fields named 'files' (never paths)."""

    batch_field: ClassVar[str | None] = "files"
    transport: ClassVar[str] = "multipart"
    what: ClassVar[str] = "files"  # how the route's documentation names them
    files: list[UploadedFile] = Field(min_length=1, max_length=MAX_FILES)


class ImagesRequest(FilesRequest):
    """Encoded images (multipart uploads over HTTP)."""

    what: ClassVar[str] = "images (PNG, JPEG, BMP, GIF, TIFF, WebP)"


class AudioRequest(FilesRequest):
    """Audio clips (multipart uploads over HTTP)."""

    what: ClassVar[str] = "audio clips (WAV, FLAC, OGG)"


class PredictResponse(BaseModel):
    model: str
    task: str
    predictions: list[dict[str, Any]] = Field(
        description="One answer per input row / image / forecast step, in input order"
    )
    notes: list[str] = Field(default_factory=list, description="What the data check noticed")


class ViewOut(BaseModel):
    name: str
    title: str
    how_to_read: str
    png: str = Field(description="the figure as a data:image/png;base64 URL")
    checks: dict[str, Any] = Field(default_factory=dict)
    about: str = Field("", description="the input a per-input view explains ('' for the net)")
    scope: str = Field("model", description="model (the net), inputs (all inputs) or input")
    arrays: dict[str, Any] | None = Field(
        None, description="the numbers behind the view, when asked for (the lab)"
    )


class ExplainResponse(BaseModel):
    model: str
    task: str
    views: list[ViewOut]
    notes: list[str] = Field(default_factory=list)


class ModelInfo(BaseModel):
    name: str
    task: str
    net: str
    request: str = Field(description="the request body: a JSON object or multipart files")
    inputs: dict[str, Any] = Field(description="what the model expects to be given")
    labels: list[str] | None = Field(default=None, description="class names, for classifiers")
    example: dict[str, Any] | None = Field(
        default=None, description="a request body this model answers, built from its own data"
    )
