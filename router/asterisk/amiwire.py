"""AMI on the wire: bytes in any chunking -> messages, decoded safely.

Asterisk writes `Key: Value` lines ended by CRLF, a blank line ending each message. A TCP
read may end anywhere, also inside a multi-byte character, and Asterisk itself may cut a
field in the middle of a character (a Cdr `CallerID` at 79 bytes). So bytes are split into
messages first and each message is decoded with replacement, never by read.
"""

from __future__ import annotations

import logging

log = logging.getLogger("router.ami")

MAX_MESSAGE = 256 * 1024
"""A message bigger than this is garbage; it is dropped, not buffered for ever."""


class Message(dict):
    """One AMI message: the first value of each key (case as Asterisk sends it); repeats in `extra`."""

    __slots__ = ("extra", "raw_len")

    def __init__(self) -> None:
        super().__init__()
        self.extra: list[tuple[str, str]] = []
        self.raw_len = 0

    @property
    def name(self) -> str:
        return self.get("Event") or ""


def parse_block(block: bytes) -> Message | None:
    text = block.decode("utf-8", "replace")
    msg = Message()
    msg.raw_len = len(block)
    for line in text.split("\r\n") if "\r\n" in text else text.split("\n"):
        if not line:
            continue
        key, sep, value = line.partition(": ")
        if not sep:
            key, sep, value = line.partition(":")
            if not sep:
                continue
        if key in msg:
            msg.extra.append((key, value))
        else:
            msg[key] = value
    return msg if msg else None


class Framer:
    """Feed bytes, get complete messages. Skips the banner line.

    With `events`, an event of another name is dropped before it is decoded or split into
    fields (it is only counted in `skipped`), unless it answers an action (has an ActionID).
    """

    def __init__(self, events: frozenset[str] | None = None, where: str = "AMI") -> None:
        self.where = where
        self.buffer = bytearray()
        self.banner: str | None = None
        self.dropped = 0
        self.skipped = 0
        self.events = None if events is None else frozenset(e.encode() for e in events)

    def feed(self, data: bytes) -> list[Message]:
        self.buffer += data
        out: list[Message] = []
        if self.banner is None:
            end = self.buffer.find(b"\r\n")
            if end < 0:
                return out
            line = bytes(self.buffer[:end])
            if line.startswith(b"Asterisk Call Manager/"):
                self.banner = line.decode("ascii", "replace")
                del self.buffer[: end + 2]
            else:
                self.banner = ""
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > MAX_MESSAGE:
                    log.warning("%s: %d bytes without a message end; dropped as garbage", self.where, len(self.buffer))
                    self.dropped += 1
                    self.buffer.clear()
                return out
            block = bytes(self.buffer[:end])
            del self.buffer[: end + 4]
            if self.events is not None and block.startswith(b"Event: "):
                name_end = block.find(b"\r\n")
                name = block[7:name_end] if name_end > 0 else block[7:]
                if name not in self.events and b"\r\nActionID: " not in block:
                    self.skipped += 1
                    continue
            msg = parse_block(block)
            if msg is None:
                if block.strip():
                    self.dropped += 1
                    log.warning("%s: unreadable block %r dropped", self.where, block[:80])
                continue
            out.append(msg)
