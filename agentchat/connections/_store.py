"""The chat store a process shares: `settings.database_url` to a `ChatStore`, once per loop.

Opening one runs the schema migrations (idempotent, under a lock), so the first process to
start, worker or gateway or script, brings the database up to date.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from agentchat.errors import ConfigurationError, StoreUnavailableError
from agentchat.settings import Settings, redact_url

if TYPE_CHECKING:
    from agentchat.store import ChatStore

__all__ = ["get_store", "require_database_url", "store_failure"]

log = logging.getLogger("agentchat.connections")

_stores: dict[tuple[int, str], asyncio.Future[ChatStore]] = {}


def require_database_url(settings: Settings, who: str) -> str:
    """The store's URL, or a `ConfigurationError` naming the variable that sets it."""
    if not settings.database_url:
        raise ConfigurationError(
            f"{who} needs the chat store: set AGENTCHAT_DATABASE_URL (sqlite:///path/chats.db"
            " on one box, postgresql://user@host/db in production)"
        )
    return settings.database_url


def store_failure(exc: BaseException, url: str) -> StoreUnavailableError:
    """A database error as agentchat's, naming the (redacted) URL and never the password."""
    return StoreUnavailableError(
        f"the chat store at {redact_url(url)} is unavailable: {type(exc).__name__}"
    )


async def get_store(settings: Settings, *, who: str = "this call") -> ChatStore:
    """The shared `ChatStore` of `settings.database_url`, opened (and migrated) on first use.

    Raises:
        ConfigurationError: No database URL is set, or it is not one the store takes.
        StoreUnavailableError: The database did not answer.
    """
    url = require_database_url(settings, who)
    key = (id(asyncio.get_running_loop()), url)
    future = _stores.get(key)
    if future is None:
        future = asyncio.get_running_loop().create_future()
        _stores[key] = future
        try:
            store = await _open(url)
        except BaseException as exc:
            del _stores[key]
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it, nobody warns
            raise
        future.set_result(store)
        return store
    return await asyncio.shield(future)


async def _open(url: str) -> ChatStore:
    from agentchat.store import ChatStore

    try:
        store = await ChatStore.open(url)
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from exc  # it names AGENTCHAT_DATABASE_URL
    except (OSError, ConnectionError, TimeoutError) as exc:
        raise store_failure(exc, url) from exc
    except Exception as exc:
        if _is_database_error(exc):
            raise store_failure(exc, url) from exc
        raise
    log.info("chat store at %s", redact_url(url))
    return store


def _is_database_error(exc: BaseException) -> bool:
    from sqlalchemy.exc import DBAPIError, OperationalError

    return isinstance(exc, OperationalError | DBAPIError)
