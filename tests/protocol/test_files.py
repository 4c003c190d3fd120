"""File parts in messages: by reference only, never inline data."""

from __future__ import annotations

from typing import Any

import pytest

from agentchat.errors import InvalidMessageError
from agentchat.files import FilePolicy
from agentchat.protocol.files import (
    MAX_FILES_PER_MESSAGE,
    file_ref,
    has_files,
    make_file_part,
    media_type_allowed,
)
from agentchat.protocol.limits import check_user_message
from agentchat.protocol.messages import UIMessage

REF = "sha256-" + "ab" * 32


def message(*parts: dict[str, Any]) -> UIMessage:
    return UIMessage(id="m1", role="user", parts=list(parts))


def test_a_file_part_refers_to_the_chat_s_file_route() -> None:
    part = make_file_part("c1", REF, "image/png", 12, "cat.png")
    assert part == {
        "type": "file",
        "mediaType": "image/png",
        "filename": "cat.png",
        "url": f"/v1/chats/c1/files/{REF}",
        "providerMetadata": {"agentchat": {"ref": REF, "size": 12}},
    }
    assert file_ref(part) == REF
    check_user_message(message(part))  # a file alone is a message
    assert has_files([message(part)])


def test_inline_data_is_refused_naming_the_upload_route() -> None:
    part = {"type": "file", "mediaType": "image/png", "url": "data:image/png;base64,iVBORw0K"}
    with pytest.raises(InvalidMessageError, match=r"parts\[1\]: inline file data.*files"):
        check_user_message(message({"type": "text", "text": "look"}, part))


@pytest.mark.parametrize(
    ("part", "problem"),
    [
        ({"type": "file", "url": "https://example.com/cat.png", "mediaType": "image/png"}, "no up"),
        ({"type": "file", "url": "/x", "providerMetadata": {"agentchat": {"ref": REF}}}, "media"),
        (
            {
                "type": "file",
                "url": "/x",
                "mediaType": "image/png",
                "providerMetadata": {"agentchat": {"ref": "sha256-XYZ"}},
            },
            "no uploaded",
        ),
    ],
)
def test_a_file_part_without_a_ref_or_type_is_refused(part: dict[str, Any], problem: str) -> None:
    with pytest.raises(InvalidMessageError, match=problem):
        check_user_message(message(part))


def test_a_message_takes_a_bounded_number_of_files() -> None:
    parts = [make_file_part("c1", REF, "image/png", 1) for _ in range(MAX_FILES_PER_MESSAGE + 1)]
    with pytest.raises(InvalidMessageError, match=f"at most {MAX_FILES_PER_MESSAGE}"):
        check_user_message(message(*parts))


def test_media_type_patterns() -> None:
    assert media_type_allowed("image/PNG; x=y", ["image/*"])
    assert media_type_allowed("application/pdf", ["*/*"])
    assert not media_type_allowed("image/svg+xml", ["image/png", "application/pdf"])
    assert not media_type_allowed("image/png", [])


def test_file_policy_names_the_rule() -> None:
    policy = FilePolicy(max_size=10, media_types=["image/*"], max_files=2)
    assert policy.refusal("image/png", 10) is None
    assert "the limit is 10 bytes" in str(policy.refusal("image/png", 11))
    assert "image/svg+xml" not in str(policy.refusal("text/plain", 1))
    assert "text/plain is not allowed" in str(policy.refusal("text/plain", 1))
    with pytest.raises(ValueError, match="max_files"):
        FilePolicy(max_files=MAX_FILES_PER_MESSAGE + 1)
    with pytest.raises(ValueError, match="list of types"):
        FilePolicy(media_types="image/png")
