"""The `router` command and its sub-commands."""
