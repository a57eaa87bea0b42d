"""Id tags (1.6 idTag, 2.0.1 idToken): the table chargers are answered from."""

from __future__ import annotations

from datetime import UTC

from aiohttp import web

from gateway.api.context import api, error
from gateway.api.params import (
    read_body,
)
from gateway.api.table import Route
from gateway.api_models import (
    IdTagBody,
    IdTagView,
)


async def put_id_tag(request: web.Request) -> web.Response:
    context = api(request)
    id_tag = request.match_info["id_tag"]
    if not 0 < len(id_tag) <= 64:
        return error(422, "InvalidIdTag", "an id tag has 1 to 64 characters")
    body = await read_body(request, IdTagBody)
    expiry = body.expiry_date
    if expiry is not None and expiry.tzinfo is None:
        expiry = expiry.replace(tzinfo=UTC)
    if body.account_id is not None and await context.store.accounts.get_account(body.account_id) is None:
        return error(422, "UnknownAccount", f"account_id: no account {body.account_id!r}")
    created = await context.store.put_id_tag(id_tag, body.status, expiry, body.group_id, body.type, body.account_id)
    return web.json_response(await context.store.get_id_tag(id_tag), status=201 if created else 200)


async def get_id_tag(request: web.Request) -> web.Response:
    tag = await api(request).store.get_id_tag(request.match_info["id_tag"])
    if tag is None:
        return error(404, "NotFound", "no such id tag")
    return web.json_response(tag)


async def list_id_tags(request: web.Request) -> web.Response:
    return web.json_response(await api(request).store.list_id_tags())


async def delete_id_tag(request: web.Request) -> web.Response:
    if not await api(request).store.delete_id_tag(request.match_info["id_tag"]):
        return error(404, "NotFound", "no such id tag")
    return web.Response(status=204)


ROUTES: tuple[Route, ...] = (
    Route(
        "get",
        "/api/id-tags",
        "id-tags",
        list_id_tags,
        "Id tags",
        response=IdTagView,
        many=True,
        tag="id-tags",
    ),
    Route(
        "put",
        "/api/id-tags/{id_tag}",
        "id-tag-put",
        put_id_tag,
        "Create or replace an id tag",
        body=IdTagBody,
        response=IdTagView,
        errors=(422,),
        tag="id-tags",
        extra={"201": "created"},
    ),
    Route(
        "get",
        "/api/id-tags/{id_tag}",
        "id-tag",
        get_id_tag,
        "One id tag",
        response=IdTagView,
        errors=(404,),
        tag="id-tags",
    ),
    Route(
        "delete",
        "/api/id-tags/{id_tag}",
        "id-tag-delete",
        delete_id_tag,
        "Delete an id tag",
        status=204,
        errors=(404,),
        tag="id-tags",
    ),
)
