"""`FilePolicy`: which files an agent takes in its messages (`Agent(files=...)`).

Two limits apply to a file. Where it is uploaded (the gateway's `POST /v1/chats/{id}/files`,
`AgentChat.send_message(files=...)`), the process's own: `AGENTCHAT_MAX_FILE_BYTES` and
`AGENTCHAT_FILE_TYPES` (`Settings.max_file_bytes`, `Settings.file_types`); a gateway serves many
agents and knows none of them. Before each LLM step, the agent's: a file of the turn's message
that the policy or the model refuses fails the turn (an `error` chunk naming the file and the
rule) before the model is called; a refused file of an earlier message is left out of the
model's input, with a note in its place, so one bad file does not fail every later turn.
See docs/attachments.md.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from agentchat.protocol.files import MAX_FILES_PER_MESSAGE, media_type_allowed
from agentchat.settings import DEFAULT_FILE_TYPES, DEFAULT_MAX_FILE_BYTES

__all__ = ["DEFAULT_FILE_TYPES", "DEFAULT_MAX_FILE_BYTES", "FilePolicy"]


@dataclass(frozen=True)
class FilePolicy:
    """Which files an agent's messages may carry, checked before each LLM step.

    Args:
        max_size: Bytes per file at most.
        media_types: The types allowed: exact (`application/pdf`), a wildcard over a top-level
            type (`image/*`), or `*/*` for any (the model must still take it).
        max_files: Files per message at most.
    """

    max_size: int = DEFAULT_MAX_FILE_BYTES
    media_types: Collection[str] = DEFAULT_FILE_TYPES
    max_files: int = 10

    def __post_init__(self) -> None:
        if self.max_size < 0:
            raise ValueError(f"FilePolicy.max_size must be zero or more, not {self.max_size}")
        if not 0 <= self.max_files <= MAX_FILES_PER_MESSAGE:
            raise ValueError(
                f"FilePolicy.max_files must be between 0 and {MAX_FILES_PER_MESSAGE},"
                f" not {self.max_files}"
            )
        if isinstance(self.media_types, str):
            raise ValueError("FilePolicy.media_types is a list of types, not one string")
        object.__setattr__(self, "media_types", tuple(self.media_types))

    def refusal(self, media_type: str, size: int | None) -> str | None:
        """Why a file of this type and size is refused (None: it is allowed)."""
        if not media_type_allowed(media_type, self.media_types):
            listed = ", ".join(sorted(self.media_types)) or "none"
            return f"its type {media_type} is not allowed (allowed: {listed})"
        if size is not None and size > self.max_size:
            return f"it is {size} bytes; the limit is {self.max_size} bytes"
        return None
