"""Media types: sniffing what a file is, and checking it against what is allowed."""

from __future__ import annotations

import pytest

from agentchat.blobs import (
    MediaTypeNotAllowedError,
    check_media_type,
    content_disposition,
    sniff_media_type,
)

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF"
GIF = b"GIF89a\x01\x00\x01\x00"
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 "
PDF = b"%PDF-1.7\n%\xe2\xe3"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (PNG, "image/png"),
        (JPEG, "image/jpeg"),
        (GIF, "image/gif"),
        (b"GIF87a\x01\x00", "image/gif"),
        (WEBP, "image/webp"),
        (PDF, "application/pdf"),
    ],
)
def test_signatures_win_over_what_is_declared(data: bytes, expected: str) -> None:
    assert sniff_media_type(data, None, None) == expected
    assert sniff_media_type(data, "text/plain", "notes.txt") == expected
    assert sniff_media_type(data, "application/octet-stream", None) == expected


@pytest.mark.parametrize(
    ("data", "declared", "filename", "expected"),
    [
        (b"hello", "text/plain", None, "text/plain"),
        (b"hello", "Text/Plain; charset=UTF-8", None, "text/plain"),
        (b"# Title", None, "README.md", "text/markdown"),
        (b"a,b\n1,2", "application/octet-stream", "data.csv", "text/csv"),
        (b"a,b\n1,2", "", "data.csv", "text/csv"),
        (b"{}", "application/json", "data.bin", "application/json"),
        (b"\x00\x01", None, None, "application/octet-stream"),
        (b"\x00\x01", "nonsense", "no-extension", "application/octet-stream"),
        # A file that claims to be an image or a PDF but does not start like one.
        (b"<script>", "image/png", None, "application/octet-stream"),
        (b"<script>", None, "cat.jpg", "application/octet-stream"),
        (b"plain text", "application/pdf", "notes.txt", "text/plain"),
        (b"RIFF\x00\x00\x00\x00WAVE", "image/webp", None, "application/octet-stream"),
    ],
)
def test_without_a_signature(
    data: bytes, declared: str | None, filename: str | None, expected: str
) -> None:
    assert sniff_media_type(data, declared, filename) == expected


@pytest.mark.parametrize(
    ("media_type", "allowed"),
    [
        ("image/png", ["image/*"]),
        ("image/png", ["application/pdf", "image/png"]),
        ("IMAGE/PNG", ["image/png"]),
        ("text/plain; charset=utf-8", ["text/plain"]),
        ("application/pdf", ["*/*"]),
        ("application/pdf", ["*"]),
        ("image/webp", {"Image/*"}),
    ],
)
def test_allowed(media_type: str, allowed: list[str]) -> None:
    check_media_type(media_type, allowed)


@pytest.mark.parametrize(
    ("media_type", "allowed", "message"),
    [
        (
            "text/html",
            ["image/*", "application/pdf"],
            "'text/html' is not allowed; allowed: application/pdf, image/*",
        ),
        ("application/pdf", ["image/*"], "'application/pdf' is not allowed; allowed: image/*"),
        ("image/png", [], "'image/png' is not allowed; allowed: none"),
        ("imagex/png", ["image/*"], "'imagex/png' is not allowed"),
    ],
)
def test_not_allowed(media_type: str, allowed: list[str], message: str) -> None:
    with pytest.raises(MediaTypeNotAllowedError) as caught:
        check_media_type(media_type, allowed)
    assert message in str(caught.value)
    assert isinstance(caught.value, ValueError)
    assert caught.value.media_type == media_type


@pytest.mark.parametrize(
    ("media_type", "filename", "expected"),
    [
        ("image/png", None, "inline"),
        ("application/pdf", "paper.pdf", 'inline; filename="paper.pdf"'),
        ("text/html", "page.html", 'attachment; filename="page.html"'),
        ("image/svg+xml", "logo.svg", 'attachment; filename="logo.svg"'),
        (
            "text/plain",
            'café "menu".txt',
            "attachment; filename=\"caf_ _menu_.txt\"; filename*=UTF-8''caf%C3%A9%20%22menu%22.txt",
        ),
    ],
)
def test_content_disposition(media_type: str, filename: str | None, expected: str) -> None:
    assert content_disposition(media_type, filename) == expected
