"""What an admin reads when a command cannot use the store.

Store errors are Redis's (refused, timed out, NOAUTH, out of memory, a cluster with no node up)
and the socket's (OSError, TimeoutError being one): `router.state.errors.STORE_ERRORS`, the
same list the HTTP side degrades on. An address the router cannot read is the
admin's typo. Each becomes one line, `router X: store URL: what happened; is Redis running at
that address?`, and exit status 2 (`router.cli.main` prints it). Any other exception is a bug
in the router and propagates as a traceback.

Kept apart from `router.cli.store` (which opens the store) so that main.py can catch
StoreFailure without importing the store for `router check` and `router call`.
"""

from __future__ import annotations

from router.state.address import AddressError


class StoreFailure(Exception):
    """A command could not use the store; str() is the admin's message, the exit status is 2."""


def failure(command: str, url: str, error: Exception) -> StoreFailure:
    """The admin's message for `error`, raised while `router command` used the store at `url`."""
    if isinstance(error, AddressError):
        return StoreFailure(f"router {command}: {error}")
    what = str(error).rstrip(".") or ("no answer in time" if isinstance(error, TimeoutError)
                                      else type(error).__name__)
    return StoreFailure(f"router {command}: store {url}: {what}; is Redis running at that address?")
