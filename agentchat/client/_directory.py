"""`Chats`: the directory of chats, for sidebars, search and housekeeping."""

from __future__ import annotations

from typing import Any

import httpx

from agentchat.client import _stored
from agentchat.protocol.directory import ChatList
from agentchat.settings import Settings

__all__ = ["Chats", "chats"]

MAX_LIMIT = 200


class Chats:
    """The chats the chat store keeps, listed and searched.

    Straight from the store (`AGENTCHAT_DATABASE_URL`), or through a gateway with `base_url`
    (default `AGENTCHAT_URL`), which lists only what its credentials may see.

    Args:
        settings: Connection settings; by default from the `AGENTCHAT_*` environment.
        base_url: A gateway to ask instead of the store.
        api_key: The gateway API key (default `AGENTCHAT_API_KEY`).
        token: A user token minted by the gateway (lists that user's chats).
        http_client: The `httpx.AsyncClient` to use with a gateway.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        token: str | None = None,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self._settings = settings
        self._base_url = base_url
        self._api_key = api_key
        self._token = token
        self._http_client = http_client

    @property
    def settings(self) -> Settings:
        # Read when first used: a module-level `chats` sees the environment of its caller.
        if self._settings is None:
            self._settings = Settings()
        return self._settings

    async def list(
        self,
        *,
        owner: str | None = None,
        agent: str | None = None,
        query: str | None = None,
        archived: bool | None = False,
        limit: int = 50,
        cursor: str | None = None,
    ) -> ChatList:
        """A page of chats, newest activity first.

        Args:
            owner: Only this owner's chats (None: every owner's).
            agent: Only chats with this agent.
            query: Full-text search over titles and message text.
            archived: False (default) leaves archived chats out, True lists only them,
                None lists both.
            limit: Chats per page, 1 to 200.
            cursor: `next_cursor` of the previous page.

        Raises:
            ValueError: A limit out of range or a malformed cursor.
            StoreUnavailableError: The database did not answer.
        """
        if not 1 <= limit <= MAX_LIMIT:
            raise ValueError(f"limit must be 1 to {MAX_LIMIT}, got {limit}")
        url = self._base_url or self.settings.url
        if url:
            return await self._over_http(
                url,
                owner=owner,
                agent=agent,
                query=query,
                archived=archived,
                limit=limit,
                cursor=cursor,
            )
        return await _stored.list_chats(
            self.settings,
            owner=owner,
            agent=agent,
            query=query,
            archived=archived,
            limit=limit,
            cursor=cursor,
        )

    async def _over_http(self, url: str, **filters: Any) -> ChatList:
        from agentchat.client._http import gateway_get

        params = {k: _param(v) for k, v in filters.items() if v is not None}
        if filters.get("archived") is None:
            params["archived"] = "any"
        credential = self._token or self._api_key or self.settings.api_key
        body = await gateway_get(url, "/v1/chats", params, credential, self._http_client)
        return ChatList.model_validate(body)


def _param(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


chats = Chats()
"""The directory of the environment's store (or gateway): `await agentchat.chats.list(...)`."""
