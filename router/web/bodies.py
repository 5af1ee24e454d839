"""Reading a request's JSON body. A body that is not what the route takes is the client's mistake:
a 400 whose JSON `error` says what to send."""

from __future__ import annotations

import orjson
from aiohttp import web

JSON_KINDS = {list: "an array", str: "a string", int: "a number", float: "a number", bool: "true/false",
              type(None): "null"}


async def json_object(request: web.Request, example: str) -> dict:
    """The request body as a JSON object; anything else is the client's mistake, a 400 that says so."""
    try:
        body = await request.json()
    except ValueError:
        body = None
        what = "not valid JSON"
    else:
        what = JSON_KINDS.get(type(body), "something else")
    if not isinstance(body, dict):
        error = f"the body must be a JSON object, like {example}; got {what}"
        raise web.HTTPBadRequest(text=orjson.dumps({"error": error}).decode(), content_type="application/json")
    return body


async def optional_object(request: web.Request) -> dict:
    """The body as a JSON object, or {} when there is none."""
    if not request.can_read_body:
        return {}
    try:
        body = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text='{"error": "the body must be JSON"}', content_type="application/json") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text='{"error": "the body must be a JSON object"}', content_type="application/json")
    return body
