"""S3 adapter for the BlobStore port: sources (uploaded through a size-bounded presigned POST),
artifacts and logs."""

from __future__ import annotations

from typing import Any

from chalicelib.adapters.aws import client, error_code
from chalicelib.domain.errors import NotFound
from chalicelib.domain.ports import PresignedUpload

_MISSING = {"404", "NoSuchKey", "NotFound"}
_DELETE_BATCH = 1000  # the most keys one DeleteObjects takes


class S3BlobStore:
    """`region`: where the buckets are (a stage's primary region). Presigned upload URLs are signed
    for it, so an API in a secondary region hands out URLs that work."""

    def __init__(self, region: str | None = None) -> None:
        self._region = region

    def _s3(self) -> Any:
        return client("s3", self._region)

    def presign_post(self, bucket: str, key: str, expires_in: int, max_bytes: int) -> PresignedUpload:
        """A presigned POST rather than PUT: only a POST policy can bound the body's size
        (`content-length-range`); a presigned PUT accepts any size. AWS enforces the policy; moto
        (5.2.5) does not, so the build step checks the size again (domain/limits.py)."""
        post = self._s3().generate_presigned_post(
            bucket,
            key,
            Conditions=[["content-length-range", 1, max_bytes]],
            ExpiresIn=expires_in,
        )
        return PresignedUpload(str(post["url"]), {k: str(v) for k, v in post["fields"].items()}, max_bytes)

    def exists(self, bucket: str, key: str) -> bool:
        try:
            self._s3().head_object(Bucket=bucket, Key=key)
        except Exception as error:
            if error_code(error) in _MISSING:
                return False
            raise
        return True

    def etag(self, bucket: str, key: str) -> str | None:
        try:
            head = self._s3().head_object(Bucket=bucket, Key=key)
        except Exception as error:
            if error_code(error) in _MISSING:
                return None
            raise
        return str(head["ETag"]).strip('"')

    def upload_file(self, bucket: str, key: str, path: str) -> None:
        self._s3().upload_file(path, bucket, key)

    def download_file(self, bucket: str, key: str, path: str) -> None:
        # One GetObject streamed to disk: download_file's managed transfer costs a HeadObject and
        # a thread pool first, which is slower for the small objects deployments move.
        try:
            body = self._s3().get_object(Bucket=bucket, Key=key)["Body"]
            with open(path, "wb") as handle:
                for chunk in body.iter_chunks(1 << 20):
                    handle.write(chunk)
        except Exception as error:
            raise _not_found(error, bucket, key) from error

    def put_bytes(self, bucket: str, key: str, body: bytes) -> None:
        self._s3().put_object(Bucket=bucket, Key=key, Body=body)

    def get_bytes(self, bucket: str, key: str) -> bytes:
        try:
            body: bytes = self._s3().get_object(Bucket=bucket, Key=key)["Body"].read()
        except Exception as error:
            raise _not_found(error, bucket, key) from error
        return body

    def list_keys(self, bucket: str, prefix: str) -> list[str]:
        keys: list[str] = []
        paginator = self._s3().get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            keys.extend(item["Key"] for item in page.get("Contents", []))
        return sorted(keys)

    def delete_keys(self, bucket: str, keys: list[str]) -> None:
        # One DeleteObjects per 1000 keys (its limit), in the caller's order; S3 reports a key that
        # does not exist as deleted, so a repeated delete succeeds.
        for start in range(0, len(keys), _DELETE_BATCH):
            batch = keys[start : start + _DELETE_BATCH]
            response = self._s3().delete_objects(
                Bucket=bucket, Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True}
            )
            for error in response.get("Errors") or []:  # e.g. AccessDenied: the caller retries
                key, code = error.get("Key"), error.get("Code")
                raise RuntimeError(f"could not delete s3://{bucket}/{key}: {code} {error.get('Message')}")


def _not_found(error: Exception, bucket: str, key: str) -> Exception:
    """A missing object is the domain's NotFound; anything else propagates as it was."""
    return NotFound(f"s3://{bucket}/{key} does not exist") if error_code(error) in _MISSING else error
