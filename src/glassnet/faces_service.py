"""REST routes of a faces run, beside predict and explain (`Task.service`): verify two
pictures, identify one against the run's gallery, enrol people into that gallery. Pictures
arrive as multipart files; nothing in a request names a file on the server."""

# No `from __future__ import annotations`: FastAPI reads the route annotations.

import asyncio
import json
from typing import Annotated, Any

from fastapi import Depends, FastAPI, File, Form, Query, UploadFile
from pydantic import BaseModel, Field

from glassnet import faces
from glassnet.errors import DataError
from glassnet.serve.app import ERRORS, read_upload, require_content_type

Files = Annotated[list[UploadFile], File(description="face pictures, as form fields 'files'")]


class VerifyAnswer(BaseModel):
    same: bool = Field(description="the similarity is above the run's threshold")
    similarity: float = Field(description="cosine similarity of the two faces, -1 to 1")
    threshold: float = Field(description="the run's threshold (at its validation FAR)")


class Match(BaseModel):
    person: str = Field(description="a person of the gallery, or 'unknown'")
    similarity: float
    match: bool = Field(description="above the threshold")


class IdentifyAnswer(BaseModel):
    matches: list[Match] = Field(description="best first; 'unknown' first when nobody clears")


class EnrolAnswer(BaseModel):
    people: list[str]
    pictures: list[int] = Field(description="pictures averaged per person")


def add_routes(app: FastAPI, base: str, model: Any, auth: Any, tag: str) -> None:
    run = model.run
    deps = [auth, Depends(require_content_type("multipart/form-data"))]

    def locked(fn: Any, *args: Any, **kwargs: Any) -> Any:
        with model.lock:
            return fn(*args, **kwargs)

    @app.post(f"{base}/verify", tags=[tag], dependencies=deps, responses=ERRORS)
    async def verify(files: Files) -> VerifyAnswer:
        """Are the two pictures the same person?"""
        if len(files) != 2:
            raise DataError(f"verify takes exactly two pictures, not {len(files)}")
        a, b = [await read_upload(f) for f in files]
        verdict = await asyncio.to_thread(locked, faces.verify, run, a, b)
        return VerifyAnswer(**vars(verdict))

    @app.post(f"{base}/identify", tags=[tag], dependencies=deps, responses=ERRORS)
    async def identify(
        files: Files, top: Annotated[int, Query(ge=1, le=100)] = 5
    ) -> IdentifyAnswer:
        """The closest people of the run's gallery (built with .../enrol or
        `glassnet faces enrol`)."""
        if len(files) != 1:
            raise DataError(f"identify takes one picture, not {len(files)}")
        probe = await read_upload(files[0])
        matches = await asyncio.to_thread(locked, faces.identify, run, probe, None, top)
        return IdentifyAnswer(matches=[Match(**m) for m in matches])

    @app.post(f"{base}/enrol", tags=[tag], dependencies=deps, responses=ERRORS)
    async def enrol(
        files: Files,
        people: Annotated[list[str], Form(description="whose each picture is, in order")],
    ) -> EnrolAnswer:
        """Replace the run's gallery with these people (several pictures each, averaged)."""
        if len(people) != len(files):
            raise DataError(
                f"{len(files)} pictures but {len(people)} names",
                fix="Send one 'people' field per file, in the same order",
            )
        given: dict[str, list[Any]] = {}
        for name, f in zip(people, files, strict=True):
            person = name.strip()[:100]
            if not person:
                raise DataError("a picture has an empty person name")
            given.setdefault(person, []).append(await read_upload(f))
        folder = await asyncio.to_thread(locked, faces.enrol_people, run, given)
        meta = json.loads((folder / "gallery.json").read_text(encoding="utf-8"))
        return EnrolAnswer(people=meta["people"], pictures=meta["pictures"])
