"""The media store's contract, held by the folder and by an S3 bucket alike (moto's S3 server on
127.0.0.1 stands in for MinIO), and what each does when it cannot be used."""

from __future__ import annotations

import io
import os
import re
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine

from store.media import DirectoryMedia, MediaMissing, MediaStore, MediaUnavailable, S3Media, key_of, new_key
from testing.ports import free_port
from testing.s3 import ACCESS, SECRET, FakeS3, fake_s3


@pytest.fixture(scope="module")
def s3() -> Iterator[FakeS3]:
    with fake_s3() as server:
        yield server


@pytest.fixture(params=["directory", "s3"])
def media(request: pytest.FixtureRequest, tmp_path: Path) -> MediaStore:
    if request.param == "directory":
        return DirectoryMedia(tmp_path / "media")
    server: FakeS3 = request.getfixturevalue("s3")
    return S3Media(server.url, server.new_bucket(), access_key=ACCESS, secret_key=SECRET)


async def _read(chunks: AsyncIterator[bytes]) -> bytes:
    return b"".join([chunk async for chunk in chunks])


async def test_put_then_get_open_exists_delete(media: MediaStore, tmp_path: Path) -> None:
    await media.check()
    photo = bytes(range(256)) * 1000  # larger than one chunk
    ref = await media.put("tg-1-100.jpg", photo, mime="image/jpeg")
    assert ref == "tg-1-100.jpg"
    assert await media.get(ref) == photo
    assert await _read(media.open(ref)) == photo
    assert await media.exists(ref)
    assert not await media.exists("tg-1-101.jpg")

    source = tmp_path / "scan.pdf"
    source.write_bytes(b"%PDF-1.4 a scan")
    assert await media.get(await media.put("console-abc.pdf", source)) == b"%PDF-1.4 a scan"
    assert await media.get(await media.put("stream-1.bin", io.BytesIO(b"streamed"))) == b"streamed"

    await media.put(ref, b"replaced")  # the same key again: the new content, whole
    assert await media.get(ref) == b"replaced"
    await media.delete(ref)
    assert not await media.exists(ref)
    await media.delete(ref)  # nothing there is not an error
    with pytest.raises(MediaMissing):
        await media.get(ref)
    with pytest.raises(MediaMissing):
        await _read(media.open(ref))


async def test_references_written_as_paths_by_older_versions_are_read_by_their_name(media: MediaStore) -> None:
    await media.put("tg-7-9.jpg", b"old photo")
    for legacy in ("media/tg-7-9.jpg", "./media/tg-7-9.jpg", "/data/media/tg-7-9.jpg", "C:\\media\\tg-7-9.jpg"):
        assert await media.get(legacy) == b"old photo"
    for hostile in ("..", "media/..", "", "a b.jpg"):
        assert not await media.exists(hostile)
        with pytest.raises(MediaMissing):
            await media.get(hostile)
    with pytest.raises(ValueError):
        await media.put("../escape.jpg", b"x")


async def test_prune_removes_only_old_objects_of_the_prefix(media: MediaStore) -> None:
    start = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False):  # the S3 server's clock (moto runs in this process)
        old_reply = await media.put(new_key("reply-3", ".png"), b"chart")
        old_photo = await media.put(new_key("web-3", ".jpg"), b"photo")
    if isinstance(media, DirectoryMedia):  # the file system's clock
        for ref in (old_reply, old_photo):
            os.utime(media.root / ref, (start.timestamp(), start.timestamp()))
    with time_machine.travel(start + timedelta(hours=7), tick=False):
        new_reply = await media.put(new_key("reply-3", ".png"), b"chart")
        assert await media.prune("reply-", start + timedelta(hours=1)) == 1
    assert not await media.exists(old_reply)
    assert await media.exists(new_reply) and await media.exists(old_photo)


def test_key_of() -> None:
    assert key_of("web-1-ab.jpg") == "web-1-ab.jpg"
    assert key_of("/data/media/tg-1-2.jpg") == "tg-1-2.jpg"
    assert new_key("web-5", ".jpg").startswith("web-5-") and len(new_key("x")) == 2 + 32


# -- when the store cannot be used --------------------------------------------------------------

async def test_a_missing_bucket_is_named_with_what_to_do(s3: FakeS3) -> None:
    media = S3Media(s3.url, "no-such-bucket", access_key=ACCESS, secret_key=SECRET)
    with pytest.raises(MediaUnavailable, match=r"'no-such-bucket'.*does not exist.*CIVICBOT_MEDIA_S3_BUCKET"):
        await media.check()
    with pytest.raises(MediaUnavailable, match="does not exist"):
        await media.put("web-1.jpg", b"x")
    with pytest.raises(MediaUnavailable, match="does not exist"):
        await media.get("web-1.jpg")


async def test_an_unreachable_endpoint_fails_fast_and_says_so() -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    media = S3Media(url, "media", access_key=ACCESS, secret_key=SECRET, timeout=1)
    started = datetime.now(UTC)
    with pytest.raises(MediaUnavailable, match=re.escape(f"at {url}: cannot be reached")):
        await media.put("web-1.jpg", b"x")
    with pytest.raises(MediaUnavailable, match="cannot be reached"):
        await media.exists("web-1.jpg")
    assert datetime.now(UTC) - started < timedelta(seconds=10)


async def test_a_folder_that_cannot_be_written_is_unavailable(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the folder should be")
    media = DirectoryMedia(blocker / "media")
    with pytest.raises(MediaUnavailable, match="media folder"):
        await media.check()
    with pytest.raises(MediaUnavailable):
        await media.put("web-1.jpg", b"x")


async def test_the_settings_choose_the_store_and_start_up_says_which(
    s3: FakeS3, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from bot.app import check_media, media_store
    from bot.config import Settings

    folder = media_store(Settings(media_dir=tmp_path / "m"))
    assert isinstance(folder, DirectoryMedia) and folder.root == tmp_path / "m"
    bucket = s3.new_bucket()
    keys = {"media_s3_access_key": ACCESS, "media_s3_secret_key": SECRET}
    chosen = media_store(Settings(media_dir=tmp_path / "m", media_s3_url=s3.url, media_s3_bucket=bucket, **keys))
    assert isinstance(chosen, S3Media)
    await chosen.put("tg-1-1.jpg", b"in the bucket")
    assert s3.client().get_object(Bucket=bucket, Key="tg-1-1.jpg")["Body"].read() == b"in the bucket"
    caplog.set_level("INFO")
    assert await check_media(chosen) and f"media: media bucket '{bucket}'" in caplog.text
    missing = media_store(Settings(media_s3_url=s3.url, media_s3_bucket="never-made", **keys))
    assert not await check_media(missing)
    (error,) = [r for r in caplog.records if r.levelname == "ERROR"]
    assert "'never-made'" in error.getMessage() and "does not exist" in error.getMessage()


def test_half_a_bucket_configuration_is_refused_with_what_is_missing() -> None:
    from pydantic import ValidationError

    from bot.config import Settings

    with pytest.raises(ValidationError, match="CIVICBOT_MEDIA_S3_BUCKET is not"):
        Settings(media_s3_url="http://minio:9000")
    with pytest.raises(ValidationError, match="both CIVICBOT_MEDIA_S3_ACCESS_KEY and CIVICBOT_MEDIA_S3_SECRET_KEY"):
        Settings(media_s3_bucket="media", media_s3_access_key="a")
    with pytest.raises(ValidationError, match="like http://minio:9000"):
        Settings(media_s3_bucket="media", media_s3_url="minio:9000")
    assert Settings(media_s3_bucket=" ").media_s3_bucket is None  # blank is unset: the folder


async def test_reply_files_are_removed_after_their_time(tmp_path: Path) -> None:
    from bot.channels.web.render import Files
    from dialogs.types import Attachment

    media = DirectoryMedia(tmp_path)
    files = Files(media, ttl=3600, prune_every=0)
    old = await files.put(7, Attachment("chart.png", b"old", "image/png"))
    (kept,) = tmp_path.glob("reply-7-*.png")
    two_hours_ago = datetime.now(UTC).timestamp() - 7200
    os.utime(kept, (two_hours_ago, two_hours_ago))
    await files.put(7, Attachment("chart.png", b"new", "image/png"))
    assert files._pruning is not None
    await files._pruning
    assert [p.read_bytes() for p in tmp_path.glob("reply-7-*")] == [b"new"]
    found = files.open(old.split("/")[2], 8)  # another identity asks for the (pruned) file's address
    assert found is not None
    with pytest.raises(MediaMissing):
        await _read(found[1])
    assert files.open("../../etc/passwd", 7) is None
    await files.close()
