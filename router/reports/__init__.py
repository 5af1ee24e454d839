"""The daily report: what happened today, per call type, queue, manager and agent."""
