"""Where photos, documents and generated files are kept, readable by every process of a deployment.

One interface, two stores: ``DirectoryMedia`` (a folder, on a volume every process mounts: the
default) and ``S3Media`` (an S3-compatible bucket such as MinIO's). What is put under a key comes back
as a *reference*, the string kept in the database (``media_path`` columns) and handed to the dialogs;
any process's store of the same configuration reads it back.

Keys are flat file names (``tg-42-1001.jpg``, ``web-7-….jpg``). A reference is the key; references
written before this module existed are file paths (``media/tg-42-1001.jpg``, ``/data/media/…``), and
their last part is the key, so old rows keep working and a folder copied into a bucket is found there.

Failures are of two kinds: ``MediaMissing`` (nothing under that key) and ``MediaUnavailable`` (the
store cannot be used now: bucket missing, endpoint unreachable, access refused, disk full). The latter's
message says which store and what to do, for the operator's log; the channels turn it into a plain
answer to the person, and nothing is recorded as received that was not stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import boto3
from botocore.client import Config
from botocore.exceptions import BotoCoreError, ClientError

KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")
CHUNK = 64 * 1024

Content = bytes | Path | BinaryIO


class MediaError(Exception):
    """A media store could not do what was asked."""


class MediaMissing(MediaError, LookupError):
    """Nothing is stored under that reference."""


class MediaUnavailable(MediaError):
    """The store cannot be used just now (unreachable, bucket missing, access refused, disk full)."""


def key_of(ref: str) -> str:
    """The key of a reference: the reference itself, or the last part of a path written by older versions."""
    key = ref.replace("\\", "/").rsplit("/", 1)[-1]
    if not KEY.fullmatch(key) or key in (".", ".."):
        raise MediaMissing(f"not a media reference: {ref!r}")
    return key


def new_key(prefix: str, suffix: str = "") -> str:
    """A fresh unguessable key ``prefix-<32 hex><suffix>``."""
    return f"{prefix}-{secrets.token_hex(16)}{suffix}"


class MediaStore(ABC):
    """Bytes under keys, shared by the processes of a deployment."""

    @abstractmethod
    def describe(self) -> str:
        """Where the media are, for log lines (never a secret)."""

    @abstractmethod
    async def put(self, key: str, content: Content, *, mime: str | None = None) -> str:
        """Store ``content`` (bytes, a file's path or a binary stream) under ``key``; its reference."""

    @abstractmethod
    async def get(self, ref: str) -> bytes:
        """The bytes stored under ``ref`` (``MediaMissing`` if there are none)."""

    @abstractmethod
    def open(self, ref: str) -> AsyncIterator[bytes]:
        """The bytes under ``ref`` in chunks, for serving large files without holding them whole."""

    @abstractmethod
    async def exists(self, ref: str) -> bool: ...

    @abstractmethod
    async def delete(self, ref: str) -> None:
        """Remove what is under ``ref``; nothing there is not an error."""

    @abstractmethod
    async def prune(self, prefix: str, before: datetime) -> int:
        """Remove the objects whose key starts with ``prefix`` stored before ``before``; how many."""

    @abstractmethod
    async def check(self) -> None:
        """Raise ``MediaUnavailable`` with what is wrong unless the store can be written to now."""


class DirectoryMedia(MediaStore):
    """A folder: on one machine, or on a volume every process of the deployment mounts."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def describe(self) -> str:
        return f"media folder {self.root}"

    def _path(self, ref: str) -> Path:
        return self.root / key_of(ref)

    def _unavailable(self, exc: OSError) -> MediaUnavailable:
        return MediaUnavailable(f"{self.describe()}: {exc.strerror or exc}")

    async def put(self, key: str, content: Content, *, mime: str | None = None) -> str:
        if not KEY.fullmatch(key):
            raise ValueError(f"not a media key: {key!r}")
        target = self.root / key

        def write() -> None:
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(f".{key}.{secrets.token_hex(4)}.part")
            try:
                with partial.open("wb") as out:
                    if isinstance(content, bytes):
                        out.write(content)
                    elif isinstance(content, Path):
                        with content.open("rb") as source:
                            _copy(source, out)
                    else:
                        _copy(content, out)
                partial.replace(target)  # a reader sees the whole file or none
            finally:
                partial.unlink(missing_ok=True)

        try:
            await asyncio.to_thread(write)
        except OSError as exc:
            raise self._unavailable(exc) from exc
        return key

    async def get(self, ref: str) -> bytes:
        path = self._path(ref)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise MediaMissing(f"{self.describe()}: no {path.name}") from None
        except OSError as exc:
            raise self._unavailable(exc) from exc

    async def open(self, ref: str) -> AsyncIterator[bytes]:
        path = self._path(ref)
        try:
            handle = await asyncio.to_thread(path.open, "rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise MediaMissing(f"{self.describe()}: no {path.name}") from None
        except OSError as exc:
            raise self._unavailable(exc) from exc
        try:
            while chunk := await asyncio.to_thread(handle.read, CHUNK):
                yield chunk
        finally:
            handle.close()

    async def exists(self, ref: str) -> bool:
        try:
            path = self._path(ref)
        except MediaMissing:
            return False
        return await asyncio.to_thread(path.is_file)

    async def delete(self, ref: str) -> None:
        path = self._path(ref)
        try:
            await asyncio.to_thread(path.unlink, missing_ok=True)
        except OSError as exc:
            raise self._unavailable(exc) from exc

    async def prune(self, prefix: str, before: datetime) -> int:
        cutoff = before.timestamp()

        def sweep() -> int:
            removed = 0
            if not self.root.is_dir():
                return 0
            with os.scandir(self.root) as entries:
                for entry in entries:
                    if entry.name.startswith(prefix) and entry.is_file() and entry.stat().st_mtime < cutoff:
                        with contextlib.suppress(FileNotFoundError):
                            os.unlink(entry.path)
                            removed += 1
            return removed

        try:
            return await asyncio.to_thread(sweep)
        except OSError as exc:
            raise self._unavailable(exc) from exc

    async def check(self) -> None:
        def probe() -> None:
            self.root.mkdir(parents=True, exist_ok=True)
            test = self.root / f".probe-{secrets.token_hex(4)}"
            test.write_bytes(b"")
            test.unlink()

        try:
            await asyncio.to_thread(probe)
        except OSError as exc:
            raise self._unavailable(exc) from exc


class S3Media(MediaStore):
    """A bucket of an S3-compatible store (MinIO, Ceph, AWS S3, OSS/COS through their S3 endpoints).

    boto3's client is thread-safe; each call runs in a worker thread. Timeouts are short and retries
    few: a person waits on a photo being stored, and an unreachable store is reported, not waited out.
    """

    def __init__(
        self,
        url: str | None,
        bucket: str,
        *,
        access_key: str | None = None,
        secret_key: str | None = None,
        region: str = "us-east-1",
        timeout: float = 5.0,
    ) -> None:
        self.url = url
        self.bucket = bucket
        config = Config(
            s3={"addressing_style": "path"},  # MinIO and most self-hosted stores: http://host:9000/bucket/key
            connect_timeout=timeout, read_timeout=max(timeout, 10.0),
            retries={"total_max_attempts": 2, "mode": "standard"},
            signature_version="s3v4",
        )
        self.client: Any = boto3.session.Session().client(
            "s3", endpoint_url=url, region_name=region, aws_access_key_id=access_key,
            aws_secret_access_key=secret_key, config=config,
        )

    def describe(self) -> str:
        return f"media bucket {self.bucket!r} at {self.url or 'AWS S3'}"

    def _failed(self, exc: Exception, key: str | None = None) -> MediaError:
        if isinstance(exc, ClientError):
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code in ("NoSuchKey", "NotFound") or (status == 404 and key is not None and code != "NoSuchBucket"):
                return MediaMissing(f"{self.describe()}: no {key}")
            if code == "NoSuchBucket" or (status == 404 and key is None):
                return MediaUnavailable(f"{self.describe()}: the bucket does not exist; create it (docker compose's "
                                        f"media-bucket service does) or correct CIVICBOT_MEDIA_S3_BUCKET")
            if code in ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403") or status == 403:
                return MediaUnavailable(f"{self.describe()}: access refused ({code}); check CIVICBOT_MEDIA_S3_ACCESS_KEY "
                                        f"and CIVICBOT_MEDIA_S3_SECRET_KEY")
            return MediaUnavailable(f"{self.describe()}: {code or status} {error.get('Message', '')}".rstrip())
        return MediaUnavailable(f"{self.describe()}: cannot be reached ({exc})")

    async def _call(self, method: str, key: str | None = None, **params: Any) -> Any:
        try:
            return await asyncio.to_thread(getattr(self.client, method), Bucket=self.bucket, **params)
        except (ClientError, BotoCoreError) as exc:
            raise self._failed(exc, key) from exc

    async def put(self, key: str, content: Content, *, mime: str | None = None) -> str:
        if not KEY.fullmatch(key):
            raise ValueError(f"not a media key: {key!r}")
        extra = {"ContentType": mime} if mime else {}
        if isinstance(content, bytes):
            await self._call("put_object", key, Key=key, Body=content, **extra)
        elif isinstance(content, Path):
            with content.open("rb") as source:
                await self._call("upload_fileobj", key, Fileobj=source, Key=key, ExtraArgs=extra or None)
        else:
            await self._call("upload_fileobj", key, Fileobj=content, Key=key, ExtraArgs=extra or None)
        return key

    async def get(self, ref: str) -> bytes:
        key = key_of(ref)
        response = await self._call("get_object", key, Key=key)
        try:
            content: bytes = await asyncio.to_thread(response["Body"].read)
        except (BotoCoreError, OSError) as exc:
            raise self._failed(exc, key) from exc
        return content

    async def open(self, ref: str) -> AsyncIterator[bytes]:
        key = key_of(ref)
        response = await self._call("get_object", key, Key=key)
        body = response["Body"]
        try:
            while True:
                try:
                    chunk = await asyncio.to_thread(body.read, CHUNK)
                except (BotoCoreError, OSError) as exc:
                    raise self._failed(exc, key) from exc
                if not chunk:
                    return
                yield chunk
        finally:
            body.close()

    async def exists(self, ref: str) -> bool:
        try:
            key = key_of(ref)
            await self._call("head_object", key, Key=key)
        except MediaMissing:
            return False
        return True

    async def delete(self, ref: str) -> None:
        key = key_of(ref)
        await self._call("delete_object", key, Key=key)

    async def prune(self, prefix: str, before: datetime) -> int:
        removed, token = 0, None
        while True:
            page = await self._call("list_objects_v2", Prefix=prefix, **({"ContinuationToken": token} if token else {}))
            old = [{"Key": o["Key"]} for o in page.get("Contents", ()) if o["LastModified"] < before.astimezone(UTC)]
            if old:
                await self._call("delete_objects", Delete={"Objects": old, "Quiet": True})
                removed += len(old)
            if not page.get("IsTruncated"):
                return removed
            token = page.get("NextContinuationToken")

    async def check(self) -> None:
        await self._call("head_bucket")


def _copy(source: BinaryIO, out: BinaryIO) -> None:
    while chunk := source.read(CHUNK):
        out.write(chunk)
