"""Files on the fake Telegram: photos and documents users and the bot send, getFile and downloads."""

from __future__ import annotations

import itertools
import mimetypes
from dataclasses import dataclass
from io import BytesIO
from typing import TYPE_CHECKING, Any

from .protocol import Params, Upload, bad_request

if TYPE_CHECKING:
    from .bot_state import BotState

MAX_DOWNLOAD_SIZE = 20 * 1024 * 1024


@dataclass
class StoredFile:
    """A file Telegram keeps: what getFile and the download endpoint serve."""

    file_id: str
    file_unique_id: str
    file_path: str
    data: bytes


class FileStore:
    """Every file sent so far, by file_id and by the path the download endpoint serves it at."""

    def __init__(self) -> None:
        self._by_id: dict[str, StoredFile] = {}
        self.by_path: dict[str, StoredFile] = {}
        self._seq = itertools.count(1)

    def clear(self) -> None:
        self._by_id.clear()
        self.by_path.clear()

    def data(self, file_id: str) -> bytes:
        return self._by_id[file_id].data

    def media(self, params: Params, field_name: str) -> tuple[Upload | StoredFile | str, bytes | None]:
        """The file a send names in ``field_name`` (an upload, a known file_id or a URL) and its bytes."""
        value = params.upload(field_name)
        if value is None or value == "":
            raise bad_request(f"there is no {field_name} in the request")
        if isinstance(value, Upload):
            return value, value.data
        if value.startswith(("http://", "https://")):
            return value, None
        stored = self._by_id.get(value)
        if stored is None:
            raise bad_request("wrong file identifier/HTTP URL specified")
        return stored, stored.data

    def get_file(self, state: BotState, params: Params) -> dict[str, Any]:
        stored = self._by_id.get(params.text("file_id") or "")
        if stored is None:
            raise bad_request("invalid file_id")
        if len(stored.data) > MAX_DOWNLOAD_SIZE:
            raise bad_request("file is too big")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.data),
            "file_path": stored.file_path,
        }

    def _register(self, data: bytes, kind: str, extension: str) -> StoredFile:
        number = next(self._seq)
        prefix = "AgACAgIAAxkBAAI" if kind == "photo" else "BQACAgIAAxkBAAI"
        stored = StoredFile(
            f"{prefix}{number:08d}", f"AQAD{number:08d}", f"{kind}s/file_{number}{extension}", data
        )
        self._by_id[stored.file_id] = stored
        self.by_path[stored.file_path] = stored
        return stored

    def register_photo(self, data: bytes) -> list[dict[str, Any]]:
        """PhotoSize list like Telegram's (thumbnails up to the original); every size serves ``data``."""
        width, height = _image_size(data) if data else (1280, 960)
        sizes: list[dict[str, Any]] = []
        for side in (90, 320, 800, 1280, 2560):
            scale = min(1.0, side / max(width, height))
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            if sizes and (sizes[-1]["width"], sizes[-1]["height"]) == size:
                break
            stored = self._register(data, "photo", ".jpg")
            sizes.append(
                {
                    "file_id": stored.file_id,
                    "file_unique_id": stored.file_unique_id,
                    "file_size": len(data),
                    "width": size[0],
                    "height": size[1],
                }
            )
        return sizes

    def register_document(self, data: bytes, filename: str, mime_type: str | None) -> dict[str, Any]:
        extension = "." + filename.rsplit(".", 1)[-1] if "." in filename else ""
        stored = self._register(data, "document", extension)
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_name": filename,
            "mime_type": mime_type or mimetypes.guess_type(filename)[0] or "application/octet-stream",
            "file_size": len(data),
        }


def _image_size(data: bytes) -> tuple[int, int]:
    try:
        from PIL import Image

        with Image.open(BytesIO(data)) as image:
            return image.size
    except Exception:  # not an image Pillow knows: Telegram would reject it; a test stub is fine
        return 1280, 960
