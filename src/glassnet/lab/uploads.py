"""Files sent to the lab to train on: one table, or a ZIP of a folder (class folders of
images, a speech folder, ...). Each upload gets an id; later requests name the id, never a
path. Tables are read at once by the data doctor (`data.tables.read_table`), so an
unreadable file is refused on the page that sent it, with its name and what to do.
"""

from __future__ import annotations

import itertools
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from glassnet.data.tables import TABLE_SUFFIXES, read_table
from glassnet.errors import DataError, GlassnetError
from glassnet.lab.catalog import UnknownName

MAX_ZIP_FILES = 200_000
MAX_UNZIPPED_BYTES = 4 << 30


@dataclass(frozen=True)
class Upload:
    id: str
    name: str  # the name it was sent under (a label)
    path: Path  # the table file, or the folder the ZIP was unpacked into
    columns: list[str] | None = None

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "columns": self.columns}


class Uploads:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.items: dict[str, Upload] = {}
        self._ids = itertools.count(1)

    def add(self, name: str, data: bytes) -> Upload:
        """Keep one sent file; a table is checked now, a ZIP is unpacked (safely)."""
        name = PurePosixPath(name.replace("\\", "/")).name[:120] or "upload"
        upload_id = f"upload-{next(self._ids)}"
        folder = self.root / upload_id
        folder.mkdir(parents=True, exist_ok=True)
        suffix = Path(name).suffix.lower()
        try:
            if suffix == ".zip":
                return self._keep(Upload(upload_id, name, _unzip(data, folder / "data", name)))
            if suffix not in TABLE_SUFFIXES:
                raise DataError(
                    f"'{name}' is neither a table nor a ZIP",
                    fix="Send a .csv, .tsv or .parquet table, or a folder packed as .zip",
                )
            path = folder / name
            path.write_bytes(data)
            try:
                frame = read_table(path, nrows=200)
            except GlassnetError as e:  # the message names our folder: name the upload
                raise DataError(str(e).replace(str(path), name)) from None
            return self._keep(Upload(upload_id, name, path, [str(c) for c in frame.columns]))
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise

    def _keep(self, upload: Upload) -> Upload:
        self.items[upload.id] = upload
        return upload

    def get(self, upload_id: str) -> Upload:
        if upload_id not in self.items:
            raise UnknownName(
                f"there is no upload '{upload_id}' (uploads last as long as the lab runs)",
                fix="Send the file again",
            )
        return self.items[upload_id]


def _unzip(data: bytes, into: Path, name: str) -> Path:
    """Unpack a ZIP, refusing members that would land outside `into` and archives that
    unpack to more than MAX_UNZIPPED_BYTES. A ZIP of one folder gives that folder."""
    import io

    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise DataError(
            f"'{name}' is not a readable ZIP file", fix="Pack the folder again"
        ) from None
    members = [m for m in archive.infolist() if not m.is_dir()]
    if not members:
        raise DataError(f"'{name}' holds no files", fix="Pack a folder that holds the data")
    if len(members) > MAX_ZIP_FILES or sum(m.file_size for m in members) > MAX_UNZIPPED_BYTES:
        raise DataError(
            f"'{name}' unpacks to more than {MAX_ZIP_FILES} files or {MAX_UNZIPPED_BYTES >> 30} GB",
            fix="Train on it from the command line: glassnet train TASK --data FOLDER",
        )
    into.mkdir(parents=True)
    root = into.resolve()
    for m in members:
        parts = PurePosixPath(m.filename.replace("\\", "/")).parts
        if any(p in ("..", "") for p in parts) or m.filename.startswith("/"):
            raise DataError(f"'{name}' holds a member outside its folder: {m.filename}")
        if parts[0] == "__MACOSX" or parts[-1].startswith("._"):
            continue  # macOS resource forks, not data
        target = (into / Path(*parts)).resolve()
        if not target.is_relative_to(root):
            raise DataError(f"'{name}' holds a member outside its folder: {m.filename}")
        target.parent.mkdir(parents=True, exist_ok=True)
        with archive.open(m) as src, target.open("wb") as dst:
            shutil.copyfileobj(src, dst)
    entries = list(into.iterdir())
    return entries[0] if len(entries) == 1 and entries[0].is_dir() else into
