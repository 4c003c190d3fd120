"""Refs and `BlobRef`, what messages carry; the errors' messages."""

from __future__ import annotations

import hashlib

import pytest
from pydantic import ValidationError

from agentchat.blobs import (
    BlobNotFoundError,
    BlobRef,
    BlobTooLargeError,
    InvalidBlobRefError,
    digest_of,
    is_blob_ref,
    ref_for_digest,
)
from agentchat.errors import AgentChatError

DIGEST = hashlib.sha256(b"x").hexdigest()
REF = f"sha256-{DIGEST}"


def test_refs_and_digests() -> None:
    assert ref_for_digest(DIGEST.upper()) == REF
    assert digest_of(REF) == DIGEST
    assert is_blob_ref(REF)
    assert not is_blob_ref(REF + "\n")
    assert not is_blob_ref(REF.upper())
    with pytest.raises(ValueError, match="not a SHA-256 hex digest"):
        ref_for_digest("xyz")
    with pytest.raises(InvalidBlobRefError, match="is not a blob ref"):
        digest_of("sha256-../../x")


def test_blob_ref_round_trips_as_json() -> None:
    blob = BlobRef(ref=REF, media_type="image/png", size=12, filename="cat photo (1).png")
    assert BlobRef.model_validate_json(blob.model_dump_json()) == blob
    assert blob.model_dump() == {
        "ref": REF,
        "media_type": "image/png",
        "size": 12,
        "filename": "cat photo (1).png",
    }
    assert BlobRef(ref=REF, media_type="application/pdf", size=0).filename is None


@pytest.mark.parametrize(
    "fields",
    [
        {"ref": "sha256-abc"},
        {"ref": "../etc/passwd"},
        {"ref": REF + "\n"},
        {"media_type": "png"},
        {"media_type": "Image/PNG"},
        {"media_type": "image/png; charset=x"},
        {"size": -1},
        {"filename": ""},
        {"filename": "../../etc/passwd"},
        {"filename": "C:\\boot.ini"},
        {"filename": "a\nb.txt"},
        {"filename": "x" * 256},
        {"extra": "field"},
    ],
)
def test_blob_ref_refuses(fields: dict[str, object]) -> None:
    values: dict[str, object] = {"ref": REF, "media_type": "image/png", "size": 1, **fields}
    with pytest.raises(ValidationError):
        BlobRef.model_validate(values)


def test_error_messages() -> None:
    missing = BlobNotFoundError(REF)
    assert str(missing) == f"no blob is stored under {REF!r}"
    assert isinstance(missing, KeyError) and isinstance(missing, AgentChatError)

    assert str(BlobTooLargeError(30, 20)) == "the file is 30 bytes; the limit is 20 bytes"
    assert (
        str(BlobTooLargeError(24, 20, complete=False))
        == "the file is more than 20 bytes (24 read); the limit is 20 bytes"
    )
    long = InvalidBlobRefError("x" * 500)
    assert len(str(long)) < 200
