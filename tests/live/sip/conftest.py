"""Fixtures of the SIP live tests: one SIP stack for the session, a `sip` driver per test.

A test module marks itself with `pytestmark = SIP_TEST` (tests/live/sip/stack.py).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.live.sip.driver import Sip
from tests.live.sip.stack import SipStack, sip_stack, why_not


@pytest.fixture(scope="session")
def sip_stack_running(redis_url) -> Iterator[SipStack]:
    """A private Asterisk of the SIP build and a real `router serve`, for every SIP test of the session."""
    reason = why_not()
    if reason is not None:
        pytest.skip(reason)
    with sip_stack(redis_url) as stack:
        yield stack


@pytest.fixture
async def sip(sip_stack_running, request) -> Sip:
    """The test's phones, calls and views of Asterisk and the router; all stopped when the test ends.
    SIPp's files (scenarios, message logs) are kept in the run folder while the session lasts."""
    folder = Path(tempfile.mkdtemp(prefix=f"{request.node.name[:40]}-", dir=sip_stack_running.run))
    driver = await Sip(sip_stack_running, folder).open()
    yield driver
    await driver.close()
    if not request.session.testsfailed:
        shutil.rmtree(folder, ignore_errors=True)
