"""Redis replies decoded into what the router reads: shared by the single-node and cluster stores.

Replies arrive in RESP2 or RESP3 shape depending on the connection (hiredis on the calls' shared
connections, redis-py's client elsewhere): every helper here reads both.
"""

from __future__ import annotations

import orjson


def mapping(reply: dict | list) -> dict[str, str]:
    """HGETALL: a dict under RESP3, a flat key/value list under RESP2."""
    if isinstance(reply, dict):
        return reply
    it = iter(reply)
    return dict(zip(it, it, strict=False))


def score_map(reply: list) -> dict[str, float]:
    """ZRANGE … WITHSCORES as {member: score}, under RESP2 or RESP3."""
    if reply and isinstance(reply[0], list):
        return {m: float(sc) for m, sc in reply}
    return {m: float(sc) for m, sc in zip(reply[::2], reply[1::2], strict=True)}


def scores(reply: list, without: str | None = None) -> list[float]:
    """ZRANGEBYSCORE … WITHSCORES: [[member, score], …] under RESP3, [member, score, …] under RESP2;
    the scores of every member but `without`."""
    pairs = reply if reply and isinstance(reply[0], list) else zip(reply[::2], reply[1::2], strict=True)
    return [float(s) for m, s in pairs if m != without]


def before_this_call(newest: dict[str, float], latest: dict[str, float], call: str) -> dict[str, float]:
    """The newest contacts as they were before `call`'s first ask, when the same call asks again after a
    menu: its own inbound entry (`latest`: the two newest inbound calls, by id) is not a previous call."""
    mine = latest.get(call)
    if mine is None or newest.get("in", 0.0) > mine:
        return newest
    newest = dict(newest)
    earlier = [t for m, t in latest.items() if m != call and t <= mine]
    if earlier:
        newest["in"] = max(earlier)
    else:
        newest.pop("in", None)
    return newest


def with_newest(state: dict[str, str], newest: dict[str, float]) -> dict[str, str]:
    """The state hash with `in`, `out`, `in_ok`, `out_ok` from the newest-contact set (the hash's own
    fields, written before that set existed, count when they are newer)."""
    if not newest:
        return state
    state = dict(state)
    for direction in ("in", "out"):
        ok, missed = newest.get(f"{direction}:1"), newest.get(f"{direction}:0")
        times = [t for t in (newest.get(direction), ok, missed) if t is not None]
        old = float(state.get(direction) or 0)
        if times and max(times) > old:
            state[direction] = str(max(times))
            if ok is not None or missed is not None:
                state[f"{direction}_ok"] = "1" if (ok or 0) >= (missed or 0) else "0"
    return state


def crm_answer(reply: str | bytes | None) -> dict | None:
    """The cached CRM answer, or None when there is none or it cannot be read (ask the CRM again)."""
    if not reply:
        return None
    try:
        found = orjson.loads(reply)
    except orjson.JSONDecodeError:
        return None
    return found if isinstance(found, dict) else None


def caller_replies(res: list, window: float, crm: bool, same_call: str | None = None
                   ) -> tuple[dict, dict, dict, list[float], dict | None]:
    """The answers to `StoreBase.caller_commands`: customer, state (newest contacts folded in), risk,
    recent inbound call times, cached CRM answer; with `same_call`, without that call's own first ask."""
    newest = score_map(res[3])
    i = 4
    inbound = scores(res[i], without=same_call) if window > 0 else []
    i += window > 0
    cached = crm_answer(res[i]) if crm else None
    i += crm
    if same_call is not None:
        newest = before_this_call(newest, score_map(res[i]), same_call)
    state = with_newest(mapping(res[1]), newest)
    return mapping(res[0]), state, mapping(res[2]), inbound, cached


def company_of(reply: list, span: int) -> dict[str, str] | None:
    """The most specific company range holding the number (ranges may nest: a branch inside a head office)."""
    for member in reply:
        lo, hi, cid, data = member.split("|", 3)
        if int(lo) <= span <= int(hi):
            return {"id": cid, **orjson.loads(data)}
    return None


def range_bounds(member: str) -> tuple[int, int, str]:
    """A numbering-plan member `start|end|zone|region` as (start, end, zone)."""
    start, end, zone, _region = member.split("|", 3)
    return int(start), int(end), zone


def range_zone(member: str, score: int) -> str | None:
    """The zone of the numbering-plan range `member` if it holds the number `score`."""
    start, end, zone = range_bounds(member)
    return zone if start <= score <= end else None
