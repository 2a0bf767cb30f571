"""A local S3 endpoint for the tests: moto's server on 127.0.0.1, a fresh bucket per test."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import boto3

from testing.ports import free_port

ACCESS, SECRET = "test-access", "test-secret"


@dataclass
class FakeS3:
    url: str

    def new_bucket(self) -> str:
        name = f"media-{secrets.token_hex(4)}"
        self.client().create_bucket(Bucket=name)
        return name

    def client(self):  # type: ignore[no-untyped-def]
        return boto3.session.Session().client("s3", endpoint_url=self.url, region_name="us-east-1",
                                              aws_access_key_id=ACCESS, aws_secret_access_key=SECRET)

    def env(self, bucket: str) -> dict[str, str]:
        """The settings a `civicbot` process needs to use ``bucket`` here."""
        return {"CIVICBOT_MEDIA_S3_URL": self.url, "CIVICBOT_MEDIA_S3_BUCKET": bucket,
                "CIVICBOT_MEDIA_S3_ACCESS_KEY": ACCESS, "CIVICBOT_MEDIA_S3_SECRET_KEY": SECRET}


@contextmanager
def fake_s3() -> Iterator[FakeS3]:
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield FakeS3(f"http://127.0.0.1:{port}")
    finally:
        server.stop()
