"""Alembic migrations of the chat store, run by `ChatStore.open` (no alembic.ini needed).

New revisions go in `versions/`, one file each, named `rNNNN_<what>.py` with `revision = "NNNN"`
and `down_revision` the previous one. Never edit a released revision: write the next one.
"""
