"""Delivering e-mail (notices to staff) through the rule file's SMTP server, one connection per message.

A message's payload keeps the server's settings as written (`${NAME}`s unrendered: the password
is read from the environment when the mail goes out, never stored), the address, the subject and
the text. The server's answer is judged as an HTTP target's is (router/outbox/http.py):

| answer | verdict |
|---|---|
| 250 | sent |
| no connection, a timeout, a 4xx reply (greylisting, a full queue) | retry later |
| the login refused (535), STARTTLS refused | blocked: every e-mail waits until the admin fixes it |
| the recipient or the message refused (5xx) | rejected |
"""

from __future__ import annotations

import os
import re
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

import aiosmtplib

from router.core.rules import EmailServer
from router.outbox.message import Delivery, Message, new_id

_ENV = re.compile(r"\$\{(\w+)\}")
SHOWN = 200


def _env(value: str) -> str:
    return _ENV.sub(lambda m: os.environ.get(m.group(1), ""), value)


def email_message(server: EmailServer, to: str, subject: str, text: str, label: str, task: str, now: float,
                  retry_for: int, group: str) -> Message:
    payload: dict[str, Any] = {"server": server.model_dump(mode="json"), "to": to, "subject": subject, "text": text}
    return Message(new_id(now), "email", group, payload, label, task, now, now + retry_for)


class EmailSender:
    async def deliver(self, message: Message) -> Delivery:
        try:
            server = EmailServer.model_construct(**message.payload["server"])
            to, subject, text = (str(message.payload[k]) for k in ("to", "subject", "text"))
            port, timeout = int(server.port), float(server.timeout)
        except (KeyError, TypeError, ValueError) as e:
            return Delivery("rejected", f"unreadable e-mail message ({type(e).__name__})",
                            "queued by another version of the router; it cannot be sent")
        mail = EmailMessage()
        mail["From"], mail["To"], mail["Subject"] = server.sender, to, subject
        mail["Date"], mail["Message-ID"] = formatdate(localtime=False), make_msgid(idstring=message.id)
        mail.set_content(text)
        where = f"{server.host}:{server.port}"
        try:
            await aiosmtplib.send(mail, hostname=_env(server.host), port=port,
                                  username=_env(server.username) or None, password=_env(server.password) or None,
                                  start_tls=bool(server.starttls), use_tls=bool(server.tls), timeout=timeout)
        except aiosmtplib.SMTPAuthenticationError as e:
            return Delivery("blocked", f"{where} refused the login: {e.code} {e.message}"[:SHOWN],
                            "check people.notices.email's username and the password in the router's environment")
        except aiosmtplib.SMTPRecipientsRefused as e:
            return Delivery("rejected", f"{where} refused {to}: {e.recipients[0].message if e.recipients else e}"
                            [:SHOWN], "check the person's address (router users set NAME --email …)")
        except aiosmtplib.SMTPResponseException as e:
            detail = f"{where}: {e.code} {e.message}"[:SHOWN]
            return Delivery("retry", detail) if 400 <= e.code < 500 else Delivery("rejected", detail)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as e:
            return Delivery("retry", f"{where}: {type(e).__name__}: {e}"[:SHOWN])
        return Delivery("sent", f"{where} took it for {to}")

    async def close(self) -> None:
        """Nothing held between messages."""
