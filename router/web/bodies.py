"""Reading a request's JSON body: every route that takes one reads it here.

A body that is not what the route takes is the client's mistake: a 400 whose JSON `error` says
what to send and what came. Arrays and objects nested deeper than MAX_DEPTH are refused too:
Python's parser recurses once per level, so without a limit a 60 KB body of `[[[[…` nested
30,000 deep stopped the handler with a RecursionError (a 500); with one, nothing deep reaches
the code that walks a body. The body's size is capped by the application (client_max_size).
"""

from __future__ import annotations

import json
from typing import Any

import orjson
from aiohttp import web

MAX_DEPTH = 32
"""Levels of arrays and objects a body may nest; the API's bodies need three."""

JSON_KINDS = {list: "an array", str: "a string", int: "a number", float: "a number", bool: "true/false",
              type(None): "null"}


def bad_body(error: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=orjson.dumps({"error": error}).decode(), content_type="application/json")


def nested_deeper_than(value: Any, limit: int) -> bool:
    """Whether arrays and objects nest more than `limit` levels in `value` (walked level by level, no recursion)."""
    level = [value] if isinstance(value, dict | list) else []
    depth = 0
    while level:
        depth += 1
        if depth > limit:
            return True
        level = [c for v in level for c in (v.values() if isinstance(v, dict) else v) if isinstance(c, dict | list)]
    return False


async def read_json(request: web.Request, expected: str) -> Any:
    """The body parsed as JSON; a 400 `the body must be {expected}; got …` when it is not JSON, or nests
    deeper than MAX_DEPTH."""
    too_deep = f"arrays or objects nested deeper than {MAX_DEPTH} levels"
    try:
        body = json.loads(await request.text())
    except RecursionError:  # deeper than the interpreter's recursion limit (about 1,000 levels)
        raise bad_body(f"the body must be {expected}; got {too_deep}") from None
    except (ValueError, LookupError):  # not JSON, not in its charset, or a charset Python does not know
        raise bad_body(f"the body must be {expected}; got not valid JSON") from None
    if nested_deeper_than(body, MAX_DEPTH):
        raise bad_body(f"the body must be {expected}; got {too_deep}")
    return body


async def json_object(request: web.Request, example: str) -> dict:
    """The body as a JSON object; anything else is a 400 that says so, with `example` to follow."""
    expected = f"a JSON object, like {example}"
    body = await read_json(request, expected)
    if not isinstance(body, dict):
        raise bad_body(f"the body must be {expected}; got {JSON_KINDS.get(type(body), 'something else')}")
    return body


async def optional_object(request: web.Request, example: str) -> dict:
    """The body as a JSON object, or {} when there is none."""
    return await json_object(request, example) if request.can_read_body else {}
