"""The vocabulary that crosses Temporal, Redis and HTTP: pure, sandbox-safe, only ever extended.

- `contracts`: the models in and out of every workflow, update and activity.
- `messages`: `UIMessage` and its parts, and the one chunk → part fold (`MessageBuilder`).
- `chunks`: the AI SDK UI message stream chunks a turn is made of.
- `envelope`: what each entry of a chat's stream (and each SSE event) holds.
- `limits`: input limits checked by the client and again by the workflow.
- `identifiers`: the rules for chat ids, message ids and agent names.
- `names`: the activity names recorded in every history.

Workflow code imports only this package, `agentchat.errors` and `temporalio`.
"""
