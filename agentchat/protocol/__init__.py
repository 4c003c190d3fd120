"""The vocabulary that crosses Temporal, Redis and HTTP: pure, sandbox-safe, only ever extended.

- `contracts`: the models in and out of every workflow, update and activity.
- `messages`: `UIMessage` and its parts, and the one chunk → part fold (`MessageBuilder`).
- `chunks`: the AI SDK UI message stream chunks a turn is made of.
- `limits`: sizes and identifier rules shared by the client, the gateway and the workflow.
- `names`: the activity names recorded in every history.

Workflow code imports only this package, `agentchat.errors` and `temporalio`.
"""
