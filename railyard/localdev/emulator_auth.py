"""Only the platform may talk to its embedded AWS (railyard/localdev/emulator.py).

moto checks no credentials: anything that can open a connection to its port could read every
tenant's variables from the table. So the emulator's WSGI app sits behind `Guard`, which answers
403 unless the request is signed (AWS Signature Version 4, in the Authorization header or as a
presigned URL's query) with the platform's own credentials, and verifies the signature with the
secret. The credentials are random per data directory, kept in `<data dir>/aws/credentials.json`
(0600, in a 0700 directory), and reach the platform's boto3 clients through AWS_ACCESS_KEY_ID /
AWS_SECRET_ACCESS_KEY in the platform's environment, which no user code inherits
(chalicelib/adapters/tenancy.py). A presigned URL the CLI gets carries the key id, never the secret,
and is good for its one request until it expires. moto's own API (`/moto-api/...`, e.g. reset)
needs the secret in the `x-railyard-emulator-secret` header.

Not checked: a request's age (a signed request could be replayed, but nothing outside the platform
sees one) and the chunk signatures of a streamed S3 upload (its headers are checked).
moto's Step Functions interpreter calls the emulator back with fixed dummy credentials; inside
the emulator process those clients are made with the platform's instead (`sign_internal_clients`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import string
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

CREDENTIALS_FILE = "credentials.json"
ADMIN_HEADER = "x-railyard-emulator-secret"
_ALGORITHM = "AWS4-HMAC-SHA256"
StartResponse = Callable[..., Any]


def ensure_credentials(aws_dir: Path) -> tuple[str, str]:
    """The data directory's (access key id, secret), made on first use."""
    aws_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(aws_dir, 0o700)
    path = aws_dir / CREDENTIALS_FILE
    if not path.exists():
        alphabet = string.ascii_uppercase + string.digits
        key_id = "RY" + "".join(secrets.choice(alphabet) for _ in range(18))
        partial = path.with_suffix(".partial")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with open(fd, "w") as file:
            json.dump({"access_key_id": key_id, "secret_access_key": secrets.token_urlsafe(30)}, file)
        os.replace(partial, path)
    found = json.loads(path.read_text())
    return str(found["access_key_id"]), str(found["secret_access_key"])


def sign_internal_clients(key_id: str, secret: str) -> None:
    """moto's Step Functions interpreter makes its boto3 clients with dummy keys ("ak"/"sk") and
    calls this emulator over HTTP: give its module a boto3 that signs with the platform's keys."""
    import boto3
    from moto.stepfunctions.parser.asl.utils import boto_client

    class _Signed:
        @staticmethod
        def client(**kwargs: Any) -> Any:
            kwargs.update(aws_access_key_id=key_id, aws_secret_access_key=secret)
            return boto3.client(**kwargs)

    boto_client.boto3 = _Signed  # type: ignore[attr-defined]


class Guard:
    """WSGI middleware: 403 unless the request carries a valid signature by the platform's key."""

    def __init__(self, app: Callable[..., Iterable[bytes]], key_id: str, secret: str) -> None:
        self._app = app
        self._key_id = key_id
        self._secret = secret

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        refusal = self.refusal(environ)
        if refusal is None:
            return self._app(environ, start_response)
        body = json.dumps({"__type": "AccessDeniedException", "message": refusal}).encode()
        start_response(
            "403 Forbidden", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        )
        return [body]

    def refusal(self, environ: dict[str, Any]) -> str | None:
        """Why the request is refused, or None to let it through."""
        if environ.get("PATH_INFO", "").startswith("/moto-api"):
            given = environ.get("HTTP_" + ADMIN_HEADER.upper().replace("-", "_"), "")
            ok = hmac.compare_digest(given.encode(), self._secret.encode())
            return None if ok else "the emulator's own API needs the platform's secret"
        header = environ.get("HTTP_AUTHORIZATION", "")
        query = _query_pairs(environ.get("QUERY_STRING", ""))
        if header.startswith(_ALGORITHM + " "):
            return self._check_header(environ, header, query)
        if dict(query).get("X-Amz-Algorithm") == _ALGORITHM:
            return self._check_presigned(environ, query)
        if environ.get("REQUEST_METHOD") == "POST" and environ.get("CONTENT_TYPE", "").startswith(
            "multipart/form-data"
        ):
            return self._check_presigned_post(environ)
        return "requests to the platform's AWS must be signed (SigV4) with the platform's credentials"

    def _check_header(self, environ: dict[str, Any], header: str, query: list[tuple[str, str]]) -> str | None:
        fields = dict(
            part.strip().split("=", 1) for part in header[len(_ALGORITHM) + 1 :].split(",") if "=" in part
        )
        credential, signed, signature = (
            fields.get(n, "") for n in ("Credential", "SignedHeaders", "Signature")
        )
        timestamp = environ.get("HTTP_X_AMZ_DATE", "")
        names = signed.split(";") if signed else []
        # botocore signs the x-amz-content-sha256 header's value when it sends one, else the body.
        payload = environ.get("HTTP_X_AMZ_CONTENT_SHA256") or hashlib.sha256(_body(environ)).hexdigest()
        return self._verify(environ, credential, timestamp, names, query, payload, signature)

    def _check_presigned(self, environ: dict[str, Any], query: list[tuple[str, str]]) -> str | None:
        params = dict(query)
        timestamp = params.get("X-Amz-Date", "")
        try:
            signed_at = datetime.strptime(timestamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp()
            expires = int(params.get("X-Amz-Expires", "0"))
        except ValueError:
            return "malformed presigned URL"
        if time.time() > signed_at + expires:
            return "the presigned URL has expired"
        names = params.get("X-Amz-SignedHeaders", "").split(";")
        unsigned = [(k, v) for k, v in query if k != "X-Amz-Signature"]
        return self._verify(
            environ,
            params.get("X-Amz-Credential", ""),
            timestamp,
            names,
            unsigned,
            "UNSIGNED-PAYLOAD",
            params.get("X-Amz-Signature", ""),
        )

    def _check_presigned_post(self, environ: dict[str, Any]) -> str | None:
        """A browser-style S3 upload (boto3's generate_presigned_post, what the CLI's upload is):
        the form carries a base64 policy signed with the platform's key. Its expiry is checked, and
        its content-length-range too, which moto itself does not enforce."""
        import base64

        fields, file_size = _form(environ)
        if fields.get("x-amz-algorithm") != _ALGORITHM:
            return "requests to the platform's AWS must be signed (SigV4) with the platform's credentials"
        policy = fields.get("policy", "")
        key_id, _, scope = fields.get("x-amz-credential", "").partition("/")
        if not hmac.compare_digest(key_id.encode(), self._key_id.encode()):
            return "unknown access key id: only the platform may call its AWS"
        parts = scope.split("/")
        if len(parts) != 4 or parts[3] != "aws4_request":
            return "malformed credential scope"
        key = ("AWS4" + self._secret).encode()
        for part in parts:
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        expected = hmac.new(key, policy.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected.encode(), fields.get("x-amz-signature", "").encode()):
            return "the upload policy's signature does not match the platform's credentials"
        try:
            document = json.loads(base64.b64decode(policy))
            expires = datetime.strptime(document["expiration"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        except (ValueError, KeyError):
            return "malformed upload policy"
        if time.time() > expires.timestamp():
            return "the upload policy has expired"
        for condition in document.get("conditions", []):
            if isinstance(condition, list) and condition[:1] == ["content-length-range"]:
                low, high = int(condition[1]), int(condition[2])
                if not low <= file_size <= high:
                    return f"EntityTooLarge: the upload is {file_size} bytes; this policy allows {low}-{high}"
        return None

    def _verify(
        self,
        environ: dict[str, Any],
        credential: str,
        timestamp: str,
        names: list[str],
        query: list[tuple[str, str]],
        payload: str,
        signature: str,
    ) -> str | None:
        key_id, _, scope = credential.partition("/")
        if not hmac.compare_digest(key_id.encode(), self._key_id.encode()):
            return "unknown access key id: only the platform may call its AWS"
        parts = scope.split("/")
        if len(parts) != 4 or parts[3] != "aws4_request" or not timestamp.startswith(parts[0]):
            return "malformed credential scope"
        service = parts[2]
        canonical = "\n".join(
            [
                environ["REQUEST_METHOD"].upper(),
                _canonical_path(environ, service),
                "&".join(f"{k}={v}" for k, v in sorted((_encode(k), _encode(v)) for k, v in query)),
                "".join(f"{name}:{_header(environ, name)}\n" for name in names),
                ";".join(names),
                payload,
            ]
        )
        to_sign = "\n".join([_ALGORITHM, timestamp, scope, hashlib.sha256(canonical.encode()).hexdigest()])
        key = ("AWS4" + self._secret).encode()
        for part in parts:
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            return "the request signature does not match the platform's credentials"
        return None


def _query_pairs(raw: str) -> list[tuple[str, str]]:
    pairs = []
    for item in raw.split("&") if raw else []:
        key, _, value = item.partition("=")
        pairs.append((unquote(key), unquote(value)))
    return pairs


def _encode(value: str) -> str:
    return quote(value, safe="-_.~")


def _canonical_path(environ: dict[str, Any], service: str) -> str:
    """The path as the client signed it: S3 signs the encoded path as sent; other services sign it
    normalized and encoded once more (botocore's SigV4Auth)."""
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI") or quote(environ.get("PATH_INFO", "/"))
    path = raw.split("?", 1)[0] or "/"
    if "://" in path:  # an absolute-form request line
        path = "/" + path.split("://", 1)[1].partition("/")[2]
    if service == "s3":
        return path
    from botocore.utils import normalize_url_path

    return quote(normalize_url_path(path), safe="/~")


def _header(environ: dict[str, Any], name: str) -> str:
    if name == "content-type":
        value = environ.get("CONTENT_TYPE", "")
    elif name == "content-length":
        value = environ.get("CONTENT_LENGTH", "")
    else:
        value = environ.get("HTTP_" + name.upper().replace("-", "_"), "")
    return " ".join(str(value).split())


def _form(environ: dict[str, Any]) -> tuple[dict[str, str], int]:
    """A multipart form's fields (names lower-cased) and its file's size; the body is put back."""
    import io

    from werkzeug.formparser import parse_form_data

    body = _body(environ)
    copy = dict(environ, **{"wsgi.input": io.BytesIO(body)})
    _, form, files = parse_form_data(copy)
    size = sum(len(f.read()) for f in files.values())
    return {k.lower(): v for k, v in form.items()}, size


def _body(environ: dict[str, Any]) -> bytes:
    """Reads the request body and puts it back for moto."""
    import io

    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return bytes(body)
