"""An S3-compatible server for the tests: moto's, in a subprocess on a loopback port.

moto stores objects and answers every S3 call the store makes, but it does not check what
AWS S3 checks on a presigned request (moto 5.2: no signature check of query-string auth, no
expiry, and `x-amz-checksum-sha256` is stored without being compared with the body; see
`_get_checksum` in moto/s3/responses.py). `S3Checks` wraps moto's WSGI app with exactly
those checks, answering as S3 does (`SignatureDoesNotMatch`, `AccessDenied` "Request has
expired", `BadDigest`), so the tests prove the store's URLs hold on a server that enforces
them. Everything else is moto's own.

Run as `python -m tests.blobs.s3_server <port>`; `running_s3_server()` does that and creates
a bucket.
"""

from __future__ import annotations

import base64
import hashlib
import io
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any
from urllib.parse import parse_qsl

import httpx

from agentchat.testing.local import free_port

ACCESS_KEY = "agentchat-test-key"
SECRET_KEY = "agentchat-test-secret"
BUCKET = "agentchat-test"
ROOT = Path(__file__).resolve().parents[2]

Environ = dict[str, Any]
StartResponse = Callable[[str, list[tuple[str, str]]], Any]
App = Callable[[Environ, StartResponse], Iterable[bytes]]


def _header(environ: Environ, name: str) -> str | None:
    key = name.upper().replace("-", "_")
    if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        return environ.get(key) or None
    value = environ.get(f"HTTP_{key}")
    return None if value is None else str(value)


def _error(start_response: StartResponse, status: str, code: str, message: str) -> list[bytes]:
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
        f"<Message>{message}</Message></Error>"
    ).encode()
    start_response(status, [("Content-Type", "application/xml")])
    return [body]


def presigned_refusal(environ: Environ) -> tuple[str, str, str] | None:
    """Why S3 would refuse a query-signed (presigned) request: status, code, message."""
    from botocore.auth import S3SigV4QueryAuth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    params = parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    query = dict(params)
    if "X-Amz-Signature" not in query:
        return None
    signed_at = datetime.strptime(query["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    if datetime.now(UTC) > signed_at + timedelta(seconds=int(query["X-Amz-Expires"])):
        return "403 Forbidden", "AccessDenied", "Request has expired"
    headers = {name: _header(environ, name) for name in query["X-Amz-SignedHeaders"].split(";")}
    mismatch = (
        "403 Forbidden",
        "SignatureDoesNotMatch",
        "The request signature we calculated does not match the signature you provided.",
    )
    if any(value is None for value in headers.values()):
        return mismatch
    raw_path = str(environ.get("RAW_URI") or environ["PATH_INFO"]).partition("?")[0]
    # The query as sent (botocore's canonical form sorts it but keeps its encoding).
    unsigned = "&".join(
        part
        for part in str(environ.get("QUERY_STRING", "")).split("&")
        if not part.startswith("X-Amz-Signature=")
    )
    request = AWSRequest(
        method=environ["REQUEST_METHOD"],
        url=f"http://{headers.get('host') or environ['HTTP_HOST']}{raw_path}?{unsigned}",
        headers=headers,
    )
    request.context["timestamp"] = query["X-Amz-Date"]
    region = query["X-Amz-Credential"].split("/")[2]
    auth = S3SigV4QueryAuth(Credentials(ACCESS_KEY, SECRET_KEY), "s3", region)
    expected = auth.signature(
        auth.string_to_sign(request, auth.canonical_request(request)), request
    )
    return None if expected == query["X-Amz-Signature"] else mismatch


@dataclass
class S3Checks:
    """WSGI middleware: AWS S3's checks of presigned requests and of body checksums."""

    app: App

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        refusal = presigned_refusal(environ)
        if refusal is not None:
            return _error(start_response, *refusal)
        claimed = _header(environ, "x-amz-checksum-sha256")
        chunked = "aws-chunked" in (_header(environ, "content-encoding") or "")
        if environ["REQUEST_METHOD"] == "PUT" and claimed and not chunked:
            body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            environ["wsgi.input"] = io.BytesIO(body)
            actual = base64.b64encode(hashlib.sha256(body).digest()).decode()
            if actual != claimed:
                return _error(
                    start_response,
                    "400 Bad Request",
                    "BadDigest",
                    "The SHA256 you specified did not match the calculated checksum.",
                )
        return self.app(environ, start_response)


def serve(port: int) -> None:
    """moto's S3, behind `S3Checks`, on 127.0.0.1:`port` until killed."""
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    app = S3Checks(DomainDispatcherApplication(create_backend_app))
    server = make_server("127.0.0.1", port, app, threaded=True, request_handler=MotoRequestHandler)
    server.serve_forever()


@dataclass
class S3Server:
    endpoint: str
    url: str
    """`s3://<bucket>/blobs`."""
    env: dict[str, str]
    """What reaches it: credentials, `AGENTCHAT_S3_ENDPOINT`, the region."""


@contextmanager
def running_s3_server(within: float = 60) -> Iterator[S3Server]:
    """The server in a subprocess on a free port, with a bucket; killed on exit."""
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    # werkzeug logs every request: into a file, where a pipe would fill up and stall it.
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.blobs.s3_server", str(port)],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_ready(process, log, endpoint, within)
            yield S3Server(
                endpoint=endpoint,
                url=f"s3://{BUCKET}/blobs",
                env={
                    "AWS_ACCESS_KEY_ID": ACCESS_KEY,
                    "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
                    "AWS_REGION": "us-east-1",
                    "AGENTCHAT_S3_ENDPOINT": endpoint,
                },
            )
        finally:
            process.kill()
            process.wait()


def _wait_ready(
    process: subprocess.Popen[bytes], log: IO[bytes], endpoint: str, within: float
) -> None:
    """Until the server answers, then with the bucket made."""
    deadline = time.monotonic() + within
    while True:
        if process.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"the S3 server exited: {log.read().decode()[-2000:]}")
        try:
            # moto checks no credentials on plain requests: the bucket needs no signing.
            if httpx.put(f"{endpoint}/{BUCKET}", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"the S3 server did not start on {endpoint}")
        time.sleep(0.05)


if __name__ == "__main__":
    serve(int(sys.argv[1]))
