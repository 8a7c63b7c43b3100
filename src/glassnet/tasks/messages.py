"""Request and response models shared by the Python API (`Run.predict_request`,
`Run.explain_request`, `Run.info`) and the REST service, which serves exactly these.

A task names its request model (`Task.request_model`); the service builds each model's
routes from it, so a new task is a registration, not new endpoints.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

MAX_ROWS = 10_000  # per request; larger jobs belong to `glassnet predict` on a file
MAX_FILES = 64

Scalar = str | int | float | bool | None


class Request(BaseModel):
    """Base of every request: unknown fields are refused, not ignored."""

    model_config = ConfigDict(extra="forbid")
    # The list field that requests of this kind can be concatenated on (micro-batching);
    # None when requests must be answered one at a time.
    batch_field: ClassVar[str | None] = None
    # How it travels over HTTP: a JSON body, or multipart form files (`FilesRequest`).
    transport: ClassVar[str] = "json"


class RowsRequest(Request):
    """Rows of a table, as {column: value}; the target column may be left out."""

    batch_field: ClassVar[str | None] = "rows"
    rows: list[dict[str, Scalar]] = Field(
        min_length=1,
        max_length=MAX_ROWS,
        description="One object per row: {column: value}",
        examples=[[{"age": 42, "contract": "two-year"}]],
    )


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
