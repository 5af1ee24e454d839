"""A private Asterisk of the SIP build, a real `router serve` following it, and what a test drives on them.

The Asterisk runs the project's files as shipped: `asterisk/extensions.conf` (with `dialplans/`),
`manager.conf`, `stasis.conf`, `queues.conf`, `modules.conf`; the tests add below them only their
router's address (a later `[globals]` wins), FreePBX-style hints and `[from-queue]`, and one queue
of FreePBX-style members. Its `pjsip.conf` is the tests' own (the shipped one is a sample with
placeholder passwords and a provider's host name), written from PHONES and the ports of the run:
- one UDP transport on a private port of 127.0.0.1; RTP in a private range of 127.0.0.1;
- `trunk`: context `from-trunk`, `trust_id_inbound` (caller ID from P-Asserted-Identity when the
  trunk sends one), identified by IP *and port*: the callers' SIPp ports (TRUNK_PORTS of them; a
  match without a port would take the phones' REGISTERs, also from 127.0.0.1, for the trunk's and
  answer 403). Its AOR's contact is the port where a test's customer (a SIPp phone) answers our
  outbound calls;
- the agents' endpoints as asterisk/pjsip.conf's `[phone]` template (context `internal`, one
  contact each), without its digest auth and qualify: SIPp phones answer neither a 401 nor OPTIONS.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import ROOT, free_port, stop_processes
from tests.live.sip.sipp import HOST, SIPP, Held, Ports
from tests.live.stack import LiveAsterisk, start_asterisk, start_router

HERE = Path(__file__).resolve().parent
SIP_BUILD_ENV = "ASTERISK_SIP"
DEFAULT_SIP_BUILD = "/opt/asterisk-sip/sbin/asterisk"
BUILD_COMMAND = "../shared/asterisk/build-sip.sh ASTERISK_GIT_DIR PJPROJECT_GIT_DIR"
PHONES = ("101", "102", "103", "104", "106", "107", "111", "112", "113", "114", "121", "122", "123", "131", "132",
          "141", "142", "143", "144", "145", "146", "151", "152", "153", "154", "155")
"""The agents' extensions: 1XX, which the shipped [internal] context dials. 101-103 are the shipped
queues' members (asterisk/queues.conf); 104 and 106 FreePBX-style members of the tests' queue; 111-132
are dialled by tests/live/sip/rules.yaml (the tens: one test's set); 141-146 are FreePBX extensions
(tests/live/sip/test_sip_freepbx.py writes their contexts); 151-155 take and make callbacks
(tests/live/sip/test_sip_callbacks.py)."""
TRUNK_PORTS = 8
RTP_PORTS = 60


def sip_build() -> tuple[str, Path]:
    """The SIP build's asterisk binary ($ASTERISK_SIP, else /opt/asterisk-sip/sbin/asterisk) and its prefix."""
    binary = os.environ.get(SIP_BUILD_ENV) or DEFAULT_SIP_BUILD
    return binary, Path(os.path.realpath(binary)).parent.parent


def why_not() -> str | None:
    """Why the SIP tests cannot run here, or None."""
    binary, prefix = sip_build()
    if not os.access(binary, os.X_OK):
        return (f"no Asterisk with PJSIP at {binary} (set {SIP_BUILD_ENV} to the sbin/asterisk of one, or build "
                f"it: {BUILD_COMMAND})")
    if not (prefix / "lib" / "asterisk" / "modules" / "chan_pjsip.so").exists():
        return f"{binary} has no chan_pjsip in {prefix}/lib/asterisk/modules (build it with PJSIP: {BUILD_COMMAND})"
    if SIPP is None:
        return f"sipp is not installed (apt-get install sip-tester; {BUILD_COMMAND} installs it too)"
    return None


needs_sip = pytest.mark.skipif(why_not() is not None, reason=str(why_not()))
SIP_TEST = [pytest.mark.asterisk, pytest.mark.slow, needs_sip]
"""A SIP test module's `pytestmark`: runs where the SIP build and sipp are (else skips, saying why and
how to build it), and carries the `asterisk` and `slow` markers."""


def pjsip_conf(sip_port: int, trunk_ports: list[int], customer_port: int) -> str:
    matches = "".join(f"match = {HOST}:{p}\n" for p in trunk_ports)
    phones = "".join(f'\n[{ext}](phone)\naors = {ext}\ncallerid = "Agent {ext}" <{ext}>\n[{ext}](aor-phone)\n'
                     for ext in PHONES)
    return f"""[global]
type = global
user_agent = callrouter-test-pbx

[udp]
type = transport
protocol = udp
bind = {HOST}:{sip_port}

[sip-defaults](!)
type = endpoint
transport = udp
disallow = all
allow = ulaw
direct_media = no
media_address = {HOST}
bind_rtp_to_media_address = yes

[trunk](sip-defaults)
context = from-trunk
trust_id_inbound = yes
aors = trunk
[trunk]
type = aor
contact = sip:{HOST}:{customer_port}
[trunk]
type = identify
endpoint = trunk
{matches}
[phone](!,sip-defaults)
context = internal
[aor-phone](!)
type = aor
max_contacts = 1
remove_existing = yes
{phones}"""


TEST_DIALPLAN = """
; ---- added by tests/live/sip: the router of this run ----
[globals]
CALLROUTER_AGI=agi://127.0.0.1:{agi_port}/route

; FreePBX-style queue members: Local/EXT@from-queue/n rings the phone, the hint is the member's state
[ext-local]
exten => 104,hint,PJSIP/104
exten => 106,hint,PJSIP/106

[from-queue]
exten => _X.,1,Dial(PJSIP/${{EXTEN}})
 same => n,Hangup()
"""

TEST_QUEUES = """
; ---- added by tests/live/sip: members as FreePBX writes them ----
[freepbx-style](queue-defaults)
strategy = ringall
member => Local/104@from-queue/n,0,Agent 104,hint:104@ext-local
member => Local/106@from-queue/n,0,Agent 106,hint:106@ext-local
"""


@dataclass
class SipStack:
    asterisk: LiveAsterisk
    router: subprocess.Popen
    redis_url: str
    prefix: str
    http_port: int
    run: Path
    sip_port: int
    trunk_ports: list[int]
    customer_port: int
    ports: Ports
    held: Held
    """The trunk's ports and the customer's, held while no SIPp process uses them."""

    def router_log(self) -> str:
        return (self.run / "router.log").read_text(errors="replace")


@contextlib.contextmanager
def sip_stack(redis_url: str) -> Iterator[SipStack]:
    binary, prefix_dir = sip_build()
    ports = Ports()
    sip_port, customer_port = ports.take(), ports.take()
    trunk_ports = [ports.take() for _ in range(TRUNK_PORTS)]
    rtp = ports.take(span=RTP_PORTS)
    held = Held([customer_port, *trunk_ports])
    agi_port, http_port = free_port(), free_port()
    # not under pytest's basetemp: another pytest run on the machine may rotate that away mid-run
    run = Path(tempfile.mkdtemp(prefix="callrouter-sip-"))

    def configure(etc: Path) -> None:
        (etc / "pjsip.conf").write_text(pjsip_conf(sip_port, trunk_ports, customer_port))
        (etc / "rtp.conf").write_text(f"[general]\nrtpstart = {rtp}\nrtpend = {rtp + RTP_PORTS - 1}\n")
        shipped = (ROOT / "asterisk" / "extensions.conf").read_text()
        (etc / "extensions.conf").write_text(shipped + TEST_DIALPLAN.format(agi_port=agi_port))
        with open(etc / "queues.conf", "a") as queues:
            queues.write(TEST_QUEUES)

    prefix = f"sip{uuid.uuid4().hex[:8]}"
    ast = router = None
    try:
        ast = start_asterisk(run, f"agi://127.0.0.1:{agi_port}/route", binary=binary, prefix=prefix_dir,
                             configure=configure)
        router = start_router(ast, run, redis_url, prefix, HERE / "rules.yaml", HERE / "customers.csv", agi_port,
                              http_port)
        yield SipStack(ast, router, redis_url, prefix, http_port, run, sip_port, trunk_ports, customer_port, ports,
                       held)
    finally:
        held.close()
        if router is not None:
            stop_processes([router], 15)
        if ast is not None:
            ast.stop()
        if os.environ.get("KEEP_SIP_RUN") != "1":  # KEEP_SIP_RUN=1 keeps configs, logs and SIPp's message logs
            shutil.rmtree(run, ignore_errors=True)
