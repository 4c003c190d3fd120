"""`open_blob_store`: from `AGENTCHAT_BLOB_URL` to a store, and the URLs it refuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentchat.blobs import (
    LocalBlobStore,
    S3BlobStore,
    default_blob_url,
    open_blob_store,
)

AWS_VARIABLES = (
    "AGENTCHAT_S3_ENDPOINT",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in AWS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_local_urls(tmp_path: Path) -> None:
    for url in (tmp_path.as_uri(), f"file://localhost{tmp_path}", str(tmp_path), f" {tmp_path} "):
        store = open_blob_store(url)
        assert isinstance(store, LocalBlobStore)
        assert store.root == tmp_path
    spaced = open_blob_store("file:///srv/my%20blobs")
    assert isinstance(spaced, LocalBlobStore) and spaced.root == Path("/srv/my blobs")


def test_default_blob_url_is_a_folder_in_the_data_dir(tmp_path: Path) -> None:
    url = default_blob_url(tmp_path)
    assert url == (tmp_path / "blobs").as_uri()
    store = open_blob_store(url)
    assert isinstance(store, LocalBlobStore) and store.root == tmp_path / "blobs"


def test_s3_urls(clean_env: pytest.MonkeyPatch) -> None:
    store = open_blob_store("s3://my-bucket/chats/files/")
    assert isinstance(store, S3BlobStore)
    assert (store.bucket, store.prefix) == ("my-bucket", "chats/files/")
    assert (store.endpoint_url, store.region) == (None, "us-east-1")
    assert store.key_of("sha256-" + "0" * 64) == "chats/files/sha256-" + "0" * 64

    bare = open_blob_store("s3://my.bucket")
    assert isinstance(bare, S3BlobStore) and (bare.bucket, bare.prefix) == ("my.bucket", "")


def test_s3_endpoint_and_region_from_the_environment(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("AWS_ENDPOINT_URL", "http://generic:9000")
    clean_env.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    store = open_blob_store("s3://bucket/p")
    assert isinstance(store, S3BlobStore)
    assert (store.endpoint_url, store.region) == ("http://generic:9000", "eu-west-1")

    clean_env.setenv("AWS_ENDPOINT_URL_S3", "http://s3-only:9000")
    clean_env.setenv("AGENTCHAT_S3_ENDPOINT", "http://minio:9000")
    clean_env.setenv("AWS_REGION", "eu-central-1")
    store = open_blob_store("s3://bucket/p")
    assert isinstance(store, S3BlobStore)
    assert (store.endpoint_url, store.region) == ("http://minio:9000", "eu-central-1")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "AGENTCHAT_BLOB_URL is empty"),
        ("   ", "AGENTCHAT_BLOB_URL is empty"),
        ("ftp://host/dir", "unsupported blob store scheme 'ftp'"),
        ("gs://bucket/prefix", "unsupported blob store scheme 'gs'"),
        ("https://user:hunter2@host/blobs", "unsupported blob store scheme 'https'"),
        ("s3:bucket", "'s3' URLs need '://'"),
        ("file://otherhost/dir", "not host 'otherhost'"),
        ("file://user:hunter2@otherhost/dir", "not host 'otherhost'"),
        ("file://", "is not file:///absolute/dir"),
        ("s3://", "'' is not an S3 bucket name"),
        ("s3://Bucket_Name/x", "'Bucket_Name' is not an S3 bucket name"),
        ("s3://ab", "'ab' is not an S3 bucket name"),
        ("s3://AKIAEXAMPLE:hunter2@bucket/prefix", "credentials do not go in the URL"),
        ("s3://bucket/prefix?secret=hunter2", "takes no query"),
    ],
)
def test_bad_urls(url: str, message: str) -> None:
    with pytest.raises(ValueError, match="AGENTCHAT_BLOB_URL") as caught:
        open_blob_store(url)
    assert message in str(caught.value)
    assert "hunter2" not in str(caught.value)
