"""Logging: chat id and turn on every line, text or JSON.

Placeholder interface; the implementation replaces this module.
"""

from __future__ import annotations

import logging

from agentchat.settings import Settings

__all__ = ["configure_logging"]


def configure_logging(settings: Settings) -> None:
    """Configure the root logger from `settings.log_format` and `settings.log_level`."""
    logging.basicConfig(level=settings.log_level)
