"""Workers: the process that runs chat workflows and their activities."""

from agentchat.worker._worker import create_worker, run_worker

__all__ = ["create_worker", "run_worker"]
