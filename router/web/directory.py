"""HTTP routes for the company directory: list (a page at a time), put (replace) and delete a company."""

from __future__ import annotations

from aiohttp import web

from router.directory.companies import parse_company
from router.web.bodies import json_object
from router.web.keys import ROUTER_KEY
from router.web.paging import one_list_at_a_time, page_request, page_response, take_page


def _router(request: web.Request):
    return request.app[ROUTER_KEY]


async def list_companies(request: web.Request) -> web.Response:
    """The directory a page at a time, by company id."""
    page = page_request(request.query, (str,))
    store = _router(request).store
    async with one_list_at_a_time(request):
        ids, next_key = take_page([((cid,), cid) for cid in await store.company_ids()], page)
        companies = await store.companies(ids)
    return page_response(companies, next_key)


async def put_company(request: web.Request) -> web.Response:
    router = _router(request)
    body = await json_object(request, '{"name": "Acme", "abc": "A", "manager": "ivanov", "numbers": ["+7495123*"]}')
    try:
        cid, fields, spans = parse_company({**body, "company": request.match_info["id"]}, router.rules.region)
    except ValueError as e:
        return web.json_response({"error": str(e)}, status=400)
    await router.store.put_company(cid, fields, spans)
    return web.json_response({"company": cid, **fields})


async def delete_company(request: web.Request) -> web.Response:
    if not await _router(request).store.delete_company(request.match_info["id"]):
        return web.json_response({"error": "no such company"}, status=404)
    return web.json_response({"deleted": request.match_info["id"]})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/companies", list_companies)
    app.router.add_put("/api/companies/{id}", put_company)
    app.router.add_delete("/api/companies/{id}", delete_company)
