"""The blob store: the bytes of attachments, kept out of workflow state, streams and rows.

Messages carry a `BlobRef` (`sha256-<hex>` of the bytes, media type, size, file name); the
bytes live in a `BlobStore`: a local directory (`LocalBlobStore`) on one box and in
`agentchat dev`, or an S3 bucket (`S3BlobStore`) in production. `open_blob_store(url)` opens
the one `AGENTCHAT_BLOB_URL` names. Storage is content-addressed: the same bytes are stored
once. See docs/attachments.md.
"""

from agentchat.blobs._errors import (
    BlobError,
    BlobNotFoundError,
    BlobStoreUnavailableError,
    BlobTooLargeError,
    InvalidBlobRefError,
    MediaTypeNotAllowedError,
)
from agentchat.blobs._local import LocalBlobStore
from agentchat.blobs._media import (
    OCTET_STREAM,
    SNIFF_BYTES,
    SNIFFED_TYPES,
    check_media_type,
    content_disposition,
    normalize_media_type,
    sniff_media_type,
)
from agentchat.blobs._refs import REF_PATTERN, BlobRef, digest_of, is_blob_ref, ref_for_digest
from agentchat.blobs._s3 import MAX_PUT_SIZE, SPOOL_IN_MEMORY, S3BlobStore
from agentchat.blobs._store import MAX_PRESIGN_EXPIRY, BlobStore
from agentchat.blobs._url import URL_VARIABLE, default_blob_url, open_blob_store

__all__ = [
    "MAX_PRESIGN_EXPIRY",
    "MAX_PUT_SIZE",
    "OCTET_STREAM",
    "REF_PATTERN",
    "SNIFFED_TYPES",
    "SNIFF_BYTES",
    "SPOOL_IN_MEMORY",
    "URL_VARIABLE",
    "BlobError",
    "BlobNotFoundError",
    "BlobRef",
    "BlobStore",
    "BlobStoreUnavailableError",
    "BlobTooLargeError",
    "InvalidBlobRefError",
    "LocalBlobStore",
    "MediaTypeNotAllowedError",
    "S3BlobStore",
    "check_media_type",
    "content_disposition",
    "default_blob_url",
    "digest_of",
    "is_blob_ref",
    "normalize_media_type",
    "open_blob_store",
    "ref_for_digest",
    "sniff_media_type",
]
