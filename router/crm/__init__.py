"""Calls and tasks kept in step with the CRM the managers use (Bitrix24, amoCRM), through the durable outbox.

- `ops`: what the router's events become — a call answered, a phone ringing, a call ended, a task
  opened, commented, re-assigned or closed — as messages queued per customer (pure).
- `people`: the rule file's people and phones as the CRM's users.
- `rate`: the CRM's request rate, shared by every router on the store.
- `jsonhttp`: one JSON request per call, its answer as data.
- `connector`: what a CRM module implements; `bitrix24` and `amocrm` are the two.
- `sync`: the wiring — the router's listeners, the outbox's `crm` channel, the users checked at start,
  the status /healthz shows.

Documented for admins in docs/crm.md.
"""
