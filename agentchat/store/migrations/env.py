"""Alembic's environment: migrate over the connection the store hands in.

`agentchat.store._migrate` passes an open connection (already in a transaction and holding the
migration lock) as `config.attributes["connection"]`; nothing here opens one of its own.
"""

from __future__ import annotations

from alembic import context

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "the chat store's migrations run through agentchat.store.ChatStore.open (or .migrate)"
    )
context.configure(connection=connection, target_metadata=None)
with context.begin_transaction():
    context.run_migrations()
