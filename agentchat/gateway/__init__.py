"""The HTTP gateway: SSE, AI SDK `useChat` compatibility, scoped tokens and a chat page.

Needs the `gateway` extra (`pip install 'agentchat[gateway]'`).
"""

from agentchat.gateway.app import GatewayConfig, create_app

__all__ = ["GatewayConfig", "create_app"]
