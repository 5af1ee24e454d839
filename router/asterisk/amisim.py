"""Asterisk's side of AMI, as manager.c speaks it, for the tests and the demo.

Banner, Login/Logoff, Ping, actions answered with their ActionID, event lists
(DeviceStateList, QueueStatus, CoreShowChannels) framed by `EventList: start` and a
`…Complete` event, and recorded event streams pushed in any chunking.

Originate (async, as manager.c answers it): refused with `Permission denied` to a user without the
`originate` write class, else `Success` / `Originate successfully queued` at once, then the event
`OriginateResponse` with the ActionID: `Success` and Reason 4 when the channel's phone answers (per
`originate_results`, by Channel; answered by default), else `Failure` with the Reason given and
Uniqueid `<unknown>`.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from dataclasses import dataclass, field

BANNER = b"Asterisk Call Manager/11.0.0\r\n"


def block(*pairs: tuple[str, str]) -> bytes:
    return "".join(f"{k}: {v}\r\n" for k, v in pairs).encode() + b"\r\n"


def recorded_events(txt: bytes) -> bytes:
    """A recorded `.txt` stream without its banner and our own session's responses."""
    body = txt[len(BANNER):] if txt.startswith(BANNER) else txt
    keep = [b for b in body.split(b"\r\n\r\n") if b.strip() and not b.startswith(b"Response:")]
    return b"".join(b + b"\r\n\r\n" for b in keep)


@dataclass
class AMIServer:
    username: str = "callrouter"
    secret: str = "s3cret"
    devices: dict[str, str] = field(default_factory=dict)
    channels: list[dict[str, str]] = field(default_factory=list)
    members: list[dict[str, str]] = field(default_factory=list)
    entries: list[dict[str, str]] = field(default_factory=list)
    """Callers waiting in queues, as QueueStatus lists them (QueueEntry: Queue, Position, CallerIDNum, Wait)."""
    queues: list[str] = field(default_factory=list)
    """QueueSummary lists these (app_queue answers the action without any privilege)."""
    endpoints: list[str] | None = None
    """PJSIPShowEndpoints lists these; None: refused, as to a user without the `system` privilege."""
    actions: list[dict[str, str]] = field(default_factory=list)
    """Every action received; a repeated header (Originate's `Variable`) is kept whole in `variables`."""
    variables: list[list[str]] = field(default_factory=list)
    """The `Variable` headers of each Originate received, in order."""
    write: frozenset[str] = frozenset({"reporting", "originate"})
    """The main user's write classes (manager.conf `write =`)."""
    more_users: dict[str, tuple[str, frozenset[str]]] = field(default_factory=dict)
    """Other AMI users: name -> (secret, write classes), like the originating user `callrouter-dial`."""
    originate_results: dict[str, str] = field(default_factory=dict)
    """Channel -> the OriginateResponse Reason its phone gives (4 answered, 3 no answer, 5 busy, 0 unreachable)."""
    originate_hold: asyncio.Event | None = None
    """When set, OriginateResponses wait for this event (a phone still ringing)."""
    logins: int = 0
    port: int = 0

    def __post_init__(self) -> None:
        self._writers: list[asyncio.StreamWriter] = []
        self._server: asyncio.Server | None = None
        self.logged_in = asyncio.Event()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._client, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        self.drop()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def drop(self) -> None:
        """Cut every connection, as a restart or a network failure would."""
        for w in self._writers:
            w.close()
        self._writers.clear()
        self.logged_in.clear()

    async def push(self, data: bytes, chunks: random.Random | None = None) -> None:
        """Send bytes to every logged-in client, cut at random places when `chunks` is given."""
        for w in list(self._writers):
            try:
                if chunks is None:
                    w.write(data)
                else:
                    i = 0
                    while i < len(data):
                        n = chunks.randint(1, 64)
                        w.write(data[i:i + n])
                        await w.drain()
                        i += n
                await w.drain()
            except ConnectionError:  # a client killed mid-push: Asterisk drops it and goes on with the others
                if w in self._writers:
                    self._writers.remove(w)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(BANNER)
        authed = False
        writes: frozenset[str] = frozenset()
        try:
            while True:
                raw = await reader.readuntil(b"\r\n\r\n")
                action: dict[str, str] = {}
                variables: list[str] = []
                for line in raw.decode("utf-8", "replace").split("\r\n"):
                    k, sep, v = line.partition(": ")
                    if sep:
                        action[k] = v
                        if k == "Variable":
                            variables.append(v)
                self.actions.append(action)
                name = action.get("Action", "").lower()
                aid = ("ActionID", action.get("ActionID", ""))
                if name == "login":
                    user, secret = action.get("Username", ""), action.get("Secret")
                    known = (self.secret, self.write) if user == self.username else self.more_users.get(user)
                    if known is not None and secret == known[0]:
                        authed, writes = True, known[1]
                        self.logins += 1
                        writer.write(block(("Response", "Success"), aid, ("Message", "Authentication accepted")))
                        writer.write(block(("Event", "FullyBooted"), ("Privilege", "system,all"),
                                           ("Uptime", "100"), ("LastReload", "100"), ("Status", "Fully Booted")))
                        self._writers.append(writer)
                        self.logged_in.set()
                    else:
                        writer.write(block(("Response", "Error"), aid, ("Message", "Authentication failed")))
                        await writer.drain()
                        break
                elif not authed:
                    writer.write(block(("Response", "Error"), aid, ("Message", "Permission denied")))
                elif name == "ping":
                    writer.write(block(("Response", "Success"), aid, ("Ping", "Pong"),
                                       ("Timestamp", "1795337767.000000")))
                elif name == "logoff":
                    writer.write(block(("Response", "Goodbye"), aid, ("Message", "Thanks for all the fish.")))
                    await writer.drain()
                    break
                elif name == "devicestatelist":
                    self._list(writer, aid, "Device State Changes will follow", "DeviceStateListComplete",
                               [(("Event", "DeviceStateChange"), ("Device", d), ("State", s))
                                for d, s in self.devices.items()])
                elif name == "queuestatus":
                    wanted = action.get("Queue")
                    self._list(writer, aid, "Queue status will follow", "QueueStatusComplete",
                               [(("Event", "QueueMember"), *m.items()) for m in self.members
                                if not wanted or m.get("Queue") in (None, wanted)]
                               + [(("Event", "QueueEntry"), *e.items()) for e in self.entries
                                  if not wanted or e.get("Queue") == wanted])
                elif name == "queuesummary":
                    self._list(writer, aid, "Queue summary will follow", "QueueSummaryComplete",
                               [(("Event", "QueueSummary"), ("Queue", q), ("LoggedIn", "0"), ("Available", "0"))
                                for q in self.queues])
                elif name == "pjsipshowendpoints" and self.endpoints is None:
                    writer.write(block(("Response", "Error"), aid, ("Message", "Permission denied")))
                elif name == "pjsipshowendpoints":
                    self._list(writer, aid, "A listing of Endpoints follows, presented as EndpointList events",
                               "EndpointListComplete",
                               [(("Event", "EndpointList"), ("ObjectType", "endpoint"), ("ObjectName", e))
                                for e in self.endpoints or ()])
                elif name == "originate" and "originate" not in writes:
                    writer.write(block(("Response", "Error"), aid, ("Message", "Permission denied")))
                elif name == "originate":
                    self.variables.append(variables)
                    writer.write(block(("Response", "Success"), aid, ("Message", "Originate successfully queued")))
                    await writer.drain()
                    asyncio.get_running_loop().create_task(self._originate_response(writer, action))
                elif name == "coreshowchannels":
                    self._list(writer, aid, "Channels will follow", "CoreShowChannelsComplete",
                               [(("Event", "CoreShowChannel"), *c.items()) for c in self.channels])
                else:
                    writer.write(block(("Response", "Error"), aid, ("Message", "Invalid/unknown command")))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            if writer in self._writers:
                self._writers.remove(writer)
            writer.close()

    async def _originate_response(self, writer: asyncio.StreamWriter, action: dict[str, str]) -> None:
        if self.originate_hold is not None:
            await self.originate_hold.wait()
        channel = action.get("Channel", "")
        reason = self.originate_results.get(channel, "4")
        answered = reason == "4"
        writer.write(block(("Event", "OriginateResponse"), ("Privilege", "call,all"),
                           ("ActionID", action.get("ActionID", "")), ("Response", "Success" if answered else "Failure"),
                           ("Channel", channel), ("Context", action.get("Context", "")),
                           ("Exten", action.get("Exten", "")), ("Reason", reason),
                           ("Uniqueid", "1795337767.100" if answered else "<unknown>")))
        with contextlib.suppress(ConnectionError):
            await writer.drain()

    @staticmethod
    def _list(writer, aid, message: str, complete: str, items: list[tuple]) -> None:
        writer.write(block(("Response", "Success"), aid, ("EventList", "start"), ("Message", message)))
        for item in items:
            writer.write(block(*item, aid))
        writer.write(block(("Event", complete), aid, ("EventList", "Complete"), ("ListItems", str(len(items)))))
