"""The Python side of the support protocol: the tools `protocol.yaml` declares.

`agentchat dev --protocol examples/support` (and `agentchat worker --protocol ...`) import this
file and attach its `tools` to the protocol's tools of the same name (`create-support-ticket`
is `create_support_ticket` here). Both are stand-ins for a real account and ticket system.
"""

from __future__ import annotations

import hashlib

from agentchat.tools import Tool, ToolContext, tool

__all__ = ["create_support_ticket", "get_user_account", "tools"]

RESPONSE_TIMES = {"urgent": "1 hour", "high": "4 hours", "medium": "24 hours", "low": "3 days"}


@tool
async def get_user_account(user_id: str) -> dict[str, object]:
    """Look up the user's account."""
    return {"user_id": user_id, "name": "Sam Example", "plan": "pro", "open_tickets": 0}


@tool
async def create_support_ticket(summary: str, priority: str, ctx: ToolContext) -> dict[str, str]:
    """Create a support ticket for a human agent."""
    # The same call, retried after a worker crash, gets the same ticket id.
    digest = hashlib.sha256(ctx.idempotency_key.encode()).hexdigest()[:6].upper()
    return {
        "ticketId": f"TKT-{digest}",
        "priority": priority,
        "estimatedResponse": RESPONSE_TIMES.get(priority, "24 hours"),
        "customer": str(ctx.inputs.get("USER_ID") or "anonymous"),
    }


tools: list[Tool] = [get_user_account, create_support_ticket]
