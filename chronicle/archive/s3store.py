"""An archive under an S3 prefix, through boto3 (the ``s3`` extra).

Endpoint, region and credentials come from the standard AWS sources
(environment, ``~/.aws/config`` and ``~/.aws/credentials``, instance roles);
``AWS_ENDPOINT_URL`` (or ``AWS_ENDPOINT_URL_S3``) points it at an
S3-compatible store. An object up to one part is sent with one PUT, a larger
one as a multipart upload whose parts are streamed as they fill, so memory
stays bounded by the part size. Every call is retried on connection errors,
timeouts, throttling and 5xx answers, with exponential backoff, by
:class:`~chronicle.archive.store.Retry`; botocore's own retries are kept
short so that each failure is reported.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional

from ..tools.errors import require
from .store import ArchiveStoreError, ObjectWriter, ReadFn, Retry, Store, T, one_line

DEFAULT_PART_SIZE = 8 << 20
MIN_PART_SIZE = 5 << 20  # S3's smallest part, except the last
_TRANSIENT_CODES = {
    "SlowDown", "RequestTimeout", "Throttling", "ThrottlingException", "InternalError",
    "ServiceUnavailable", "RequestLimitExceeded", "OperationAborted",
}
_ABSENT = {"404", "NoSuchKey", "NotFound"}


def split_url(url: str) -> "tuple[str, str]":
    """(bucket, prefix) of s3://BUCKET/PREFIX; the prefix has no slash at either end."""
    rest = url[len("s3://"):]
    bucket, _, prefix = rest.partition("/")
    if not bucket:
        raise ValueError(f"{url}: no bucket in the URL (expected s3://BUCKET/PREFIX)")
    return bucket, prefix.strip("/")


def _code(e: BaseException) -> str:
    response = getattr(e, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def _status(e: BaseException) -> int:
    response = getattr(e, "response", None)
    if isinstance(response, dict):
        return int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    return 0


class S3Store(Store):
    def __init__(self, url: str, retry: Optional[Retry] = None, part_size: Optional[int] = None) -> None:
        boto3: Any = require("boto3", "an s3:// archive", "s3")
        self._exc: Any = require("botocore.exceptions", "an s3:// archive", "s3")
        config: Any = require("botocore.config", "an s3:// archive", "s3")
        self.url = url.rstrip("/")
        self.bucket, self.prefix = split_url(url)
        self.retry = retry if retry is not None else Retry()
        self.part_size = max(part_size or DEFAULT_PART_SIZE, MIN_PART_SIZE)
        cfg = config.Config(
            retries={"mode": "standard", "max_attempts": 2}, connect_timeout=10, read_timeout=60,
        )
        self.client = boto3.session.Session().client("s3", config=cfg)

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def transient(self, e: BaseException) -> bool:
        exc = self._exc
        if isinstance(e, (exc.ConnectionError, exc.HTTPClientError, exc.IncompleteReadError)):
            return True
        if isinstance(e, exc.ClientError):
            return _code(e) in _TRANSIENT_CODES or _status(e) >= 500
        return False

    def _absent(self, e: BaseException) -> bool:
        # not NoSuchBucket, also a 404: a missing bucket is an error, not an absent object
        return isinstance(e, self._exc.ClientError) and _code(e) in _ABSENT

    def call(self, what: str, fn: Callable[[], T]) -> T:
        try:
            return self.retry.call(what, fn, self.transient)
        except (self._exc.BotoCoreError, self._exc.ClientError) as e:
            raise ArchiveStoreError(f"{what}: {one_line(e)}") from e

    def put_bytes(self, key: str, data: bytes) -> None:
        k = self._key(key)
        self.call(f"PUT {self.where(key)}", lambda: self.client.put_object(Bucket=self.bucket, Key=k, Body=data))

    def get_bytes(self, key: str) -> Optional[bytes]:
        k = self._key(key)

        def get() -> Optional[bytes]:
            try:
                body = self.client.get_object(Bucket=self.bucket, Key=k)["Body"]
            except Exception as e:
                if self._absent(e):
                    return None
                raise
            with body:
                return bytes(body.read())

        return self.call(f"GET {self.where(key)}", get)

    def size(self, key: str) -> Optional[int]:
        k = self._key(key)

        def head() -> Optional[int]:
            try:
                return int(self.client.head_object(Bucket=self.bucket, Key=k)["ContentLength"])
            except Exception as e:
                if self._absent(e):
                    return None
                raise

        return self.call(f"HEAD {self.where(key)}", head)

    def list_keys(self, prefix: str) -> List[str]:
        full = self._key(prefix)
        cut = len(self._key(""))

        def listing() -> List[str]:
            keys: List[str] = []
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=full):
                keys.extend(obj["Key"][cut:] for obj in page.get("Contents", ()))
            return sorted(keys)

        return self.call(f"LIST {self.where(prefix)}", listing)

    def create(self, key: str) -> ObjectWriter:
        return _S3Writer(self, key)

    def read(self, key: str, fn: ReadFn[T]) -> T:
        k = self._key(key)

        def attempt() -> T:
            try:
                body = self.client.get_object(Bucket=self.bucket, Key=k)["Body"]
            except Exception as e:
                if self._absent(e):
                    raise FileNotFoundError(2, "no such object", self.where(key)) from None
                raise
            with body:
                return fn(body)

        return self.call(f"GET {self.where(key)}", attempt)

    def delete(self, key: str) -> None:
        k = self._key(key)
        self.call(f"DELETE {self.where(key)}", lambda: self.client.delete_object(Bucket=self.bucket, Key=k))

    def cleanup(self) -> int:
        """Abort the multipart uploads an interrupted run left under the prefix."""
        full = self._key("")

        def uploads() -> List[Dict[str, Any]]:
            found: List[Dict[str, Any]] = []
            for page in self.client.get_paginator("list_multipart_uploads").paginate(Bucket=self.bucket, Prefix=full):
                found.extend(page.get("Uploads", ()))
            return found

        aborted = 0
        for up in self.call(f"LIST uploads {self.url}", uploads):
            key, upload_id = up["Key"], up["UploadId"]
            try:
                self.call(
                    f"ABORT {key}",
                    lambda: self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id),
                )
                aborted += 1
            except Exception as e:
                if not self._absent(e) and _code(e) != "NoSuchUpload":
                    raise
        return aborted

    def close(self) -> None:
        self.client.close()


class _S3Writer(ObjectWriter):
    """Buffers up to one part; the first full part starts a multipart upload."""

    def __init__(self, store: S3Store, key: str) -> None:
        super().__init__()
        self.store = store
        self.name = store.where(key)
        self.key = store._key(key)
        self.buf = bytearray()
        self.upload_id: Optional[str] = None
        self.parts: List[Dict[str, Any]] = []

    def _write(self, data: Any) -> None:
        self.buf += data
        while len(self.buf) >= self.store.part_size:
            part = bytes(self.buf[: self.store.part_size])
            del self.buf[: self.store.part_size]
            self._upload_part(part)

    def _upload_part(self, body: bytes) -> None:
        s, c = self.store, self.store.client
        if self.upload_id is None:
            resp = s.call(f"start upload {self.name}", lambda: c.create_multipart_upload(Bucket=s.bucket, Key=self.key))
            self.upload_id = str(resp["UploadId"])
        number = len(self.parts) + 1
        resp = s.call(
            f"upload part {number} of {self.name}",
            lambda: c.upload_part(Bucket=s.bucket, Key=self.key, UploadId=self.upload_id, PartNumber=number, Body=body),
        )
        self.parts.append({"PartNumber": number, "ETag": resp["ETag"]})

    def _commit(self) -> None:
        s, c = self.store, self.store.client
        if self.upload_id is None:
            body = bytes(self.buf)
            s.call(f"PUT {self.name}", lambda: c.put_object(Bucket=s.bucket, Key=self.key, Body=body))
            return
        if self.buf:
            self._upload_part(bytes(self.buf))
            self.buf = bytearray()

        def complete() -> None:
            try:
                c.complete_multipart_upload(
                    Bucket=s.bucket, Key=self.key, UploadId=self.upload_id, MultipartUpload={"Parts": self.parts}
                )
            except Exception as e:
                # a completion that succeeded but whose answer was lost is
                # retried into NoSuchUpload: the object is there if its size is
                if _code(e) == "NoSuchUpload" and self._landed():
                    return
                raise

        s.call(f"complete upload {self.name}", complete)

    def _landed(self) -> bool:
        try:
            head = self.store.client.head_object(Bucket=self.store.bucket, Key=self.key)
        except Exception:
            return False
        return int(head["ContentLength"]) == self.size

    def _abort(self) -> None:
        if self.upload_id is None:
            return
        try:  # best effort: cleanup() of a later run aborts what is left
            self.store.client.abort_multipart_upload(Bucket=self.store.bucket, Key=self.key, UploadId=self.upload_id)
        except Exception:
            pass
