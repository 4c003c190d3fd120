"""From `AGENTCHAT_BLOB_URL` to a store: `file:///dir` or a path, or `s3://bucket/prefix`."""

from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

from agentchat.blobs._local import LocalBlobStore
from agentchat.blobs._s3 import S3BlobStore, s3_options_from_env
from agentchat.blobs._store import BlobStore
from agentchat.errors import ConfigurationError

__all__ = ["URL_VARIABLE", "default_blob_url", "open_blob_store"]

URL_VARIABLE = "AGENTCHAT_BLOB_URL"
_USE = "use file:///absolute/dir, a directory path, or s3://bucket/prefix"
# S3's bucket naming rules (lowercase letters, digits, dots, hyphens; 3 to 63 characters).
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def _shown(url: str) -> str:
    """A URL as an error may show it: no user info, no query or fragment (either may hold a
    secret: `?X-Amz-Security-Token=`, `?secret=`...)."""
    scheme, _, rest = url.partition("://")
    rest = re.split(r"[?#]", rest, maxsplit=1)[0]
    host, slash, path = rest.partition("/")
    return f"{scheme}://{host.rpartition('@')[2]}{slash}{path}"


def default_blob_url(data_dir: str | os.PathLike[str]) -> str:
    """The blob store `agentchat dev` uses: a `blobs/` folder in its data dir, as a URL."""
    return (Path(data_dir).absolute() / "blobs").as_uri()


def open_blob_store(url: str) -> BlobStore:
    """The blob store a URL names (no connection is made until the store is used).

    - `file:///absolute/dir`, or a plain path (`data/blobs`): a `LocalBlobStore`.
    - `s3://bucket/prefix`: an `S3BlobStore`; credentials as botocore finds them (`AWS_*`
      variables, profiles, roles), the endpoint of an S3-compatible server from
      `AGENTCHAT_S3_ENDPOINT` or `AWS_ENDPOINT_URL`, the region from `AWS_REGION` (us-east-1
      by default). Needs the `s3` extra.

    Raises:
        ValueError: Anything else. The message names `AGENTCHAT_BLOB_URL` and the scheme and
            never shows credentials.
        ConfigurationError: An `s3://` URL without the `s3` extra installed.
    """
    url = url.strip()
    if not url:
        raise ValueError(f"{URL_VARIABLE} is empty; {_USE}")
    if "://" not in url:
        if ":" in url.split("/", 1)[0] and not re.match(r"^[A-Za-z]:[\\/]", url):
            # `scheme:rest` without slashes (`s3:bucket`, `file:dir`): a mistake, not a path.
            scheme = url.split(":", 1)[0]
            raise ValueError(f"{URL_VARIABLE}: {scheme!r} URLs need '://'; {_USE}")
        return LocalBlobStore(url)
    scheme = url.partition("://")[0].lower()
    if scheme == "file":
        return _local(url)
    if scheme == "s3":
        return _s3(url)
    raise ValueError(
        f"{URL_VARIABLE}: unsupported blob store scheme {scheme!r} in {_shown(url)!r}; {_USE}"
    )


def _local(url: str) -> LocalBlobStore:
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise ValueError(
            f"{URL_VARIABLE}: a file URL names a directory on this machine,"
            f" file:///absolute/dir, not host {parts.netloc.rpartition('@')[2]!r}"
        )
    path = unquote(parts.path)
    if not path.startswith("/") or parts.query or parts.fragment:
        raise ValueError(f"{URL_VARIABLE}: {_shown(url)!r} is not file:///absolute/dir")
    return LocalBlobStore(path)


def _s3(url: str) -> S3BlobStore:
    # Parsed by hand: urlsplit would take `user:secret@bucket` apart but keep it in netloc.
    rest = url.partition("://")[2]
    bucket, _, prefix = rest.partition("/")
    if "@" in bucket:
        raise ValueError(
            f"{URL_VARIABLE}: credentials do not go in the URL ({_shown(url)!r});"
            " set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or use a profile or a role)"
        )
    if "?" in rest or "#" in rest:
        raise ValueError(f"{URL_VARIABLE}: {_shown(url)!r} takes no query; s3://bucket/prefix")
    if not _BUCKET.fullmatch(bucket) or ".." in bucket:
        raise ValueError(
            f"{URL_VARIABLE}: {bucket!r} is not an S3 bucket name (3 to 63 lowercase letters,"
            " digits, dots and hyphens); s3://bucket/prefix"
        )
    if importlib.util.find_spec("aiobotocore") is None:
        raise ConfigurationError(
            f"{URL_VARIABLE}=s3://... needs aiobotocore: pip install 'agentchat[s3]'"
        )
    options = s3_options_from_env()
    return S3BlobStore(
        bucket,
        prefix,
        endpoint_url=options["endpoint_url"],
        region=options["region"] or "us-east-1",
    )
