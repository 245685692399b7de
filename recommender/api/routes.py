"""Recommendation routes: recommendations for a user, similar items for an item."""

from __future__ import annotations

import re
from typing import Annotated, Any

import orjson
from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request, Response

from recommender.api.auth import require
from recommender.ranking import Ranked, RankRequest
from recommender.recommend import Recommendations, Recommender

ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,128}$"
DESTINATION_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
ITEM_TYPES = frozenset({"hotel", "flight", "tour", "car", "attraction"})
_TYPE = "(?:" + "|".join(sorted(ITEM_TYPES)) + ")"
# Lists are plain comma-separated values, no spaces: the patterns are in the OpenAPI spec,
# and both the fast path and this route enforce exactly them.
ITEM_TYPES_PATTERN = rf"^{_TYPE}(?:,{_TYPE})*$"
EXCLUDE_PATTERN = r"^[A-Za-z0-9_.:-]{1,128}(?:,[A-Za-z0-9_.:-]{1,128})*$"
MAX_EXCLUDE = 200


def parse_request(
    k: int, item_types: str | None, destination: str | None, exclude: str | None
) -> RankRequest:
    """A RankRequest from query parameters, or a 400 naming the bad one."""
    types: list[str] = []
    if item_types is not None:
        if not re.match(ITEM_TYPES_PATTERN, item_types):
            unknown = next((t for t in item_types.split(",") if t not in ITEM_TYPES), item_types)
            raise HTTPException(
                400,
                f"invalid parameter 'item_types': unknown type '{unknown}' "
                f"(comma-separated, one of {', '.join(sorted(ITEM_TYPES))})",
            )
        types = item_types.split(",")
    excluded: list[str] = []
    if exclude is not None:
        if not re.match(EXCLUDE_PATTERN, exclude):
            raise HTTPException(
                400, "invalid parameter 'exclude': comma-separated item ids, no spaces"
            )
        excluded = exclude.split(",")
        if len(excluded) > MAX_EXCLUDE:
            raise HTTPException(400, f"invalid parameter 'exclude': more than {MAX_EXCLUDE} ids")
    return RankRequest(
        k=k,
        item_types=frozenset(types) or None,
        destination=destination,
        exclude=frozenset(excluded),
    )


def _item_json(r: Ranked, reco: Recommender) -> dict[str, Any]:
    meta = reco.catalog.items.get(r.item_id)
    return {
        "item_id": r.item_id,
        "item_type": r.item_type,
        "destination": r.destination,
        "title": meta.title if meta else None,
        "price": meta.price_base if meta else None,
        "score": round(r.score, 6),
        "reason": r.reason,
        "source": r.source,
    }


def render(user_id: str, result: Recommendations, reco: Recommender) -> dict[str, Any]:
    """The JSON body of a recommendations answer."""
    return {
        "user_id": user_id,
        "items": [_item_json(r, reco) for r in result.items],
        "fallback": result.fallback,
        "known_user": result.known_user,
        "index_version": reco.catalog.index.version,
        "model_version": reco.model_version(),
    }


def add_recommendation_routes(app: FastAPI) -> None:
    """Register the routes on app."""

    @app.get(
        "/v1/users/{user_id}/recommendations",
        tags=["recommendations"],
        summary="Next-best offers for a user, each with a reason",
        dependencies=[Depends(require("app"))],
    )
    async def recommendations(
        request: Request,
        user_id: Annotated[str, Path(pattern=ID_PATTERN, description="Pseudonymous user id.")],
        k: Annotated[int, Query(ge=1, le=100, description="How many items.")] = 10,
        item_types: Annotated[
            str | None,
            Query(
                pattern=ITEM_TYPES_PATTERN,
                description="Comma-separated item types to keep, e.g. hotel,tour.",
            ),
        ] = None,
        destination: Annotated[
            str | None,
            Query(pattern=DESTINATION_PATTERN, description="Only this destination."),
        ] = None,
        exclude: Annotated[
            str | None,
            Query(
                pattern=EXCLUDE_PATTERN,
                description="Comma-separated item ids never to return (at most 200).",
            ),
        ] = None,
    ) -> Response:
        reco = request.app.state.recommender
        req = parse_request(k, item_types, destination, exclude)
        result = await reco.for_user(user_id, req)
        # Served by api.fastpath in production; this handler documents the route in the
        # OpenAPI spec and answers when the app runs without the fast path.
        headers = {"X-Reco-Degraded": "redis-unavailable"} if result.degraded else None
        body = orjson.dumps(render(user_id, result, reco))
        return Response(body, media_type="application/json", headers=headers)

    @app.get(
        "/v1/items/{item_id}/similar",
        tags=["recommendations"],
        summary="Items most similar to an item",
        dependencies=[Depends(require("app"))],
        responses={404: {"description": "The item is not in the index (unknown or inactive)"}},
    )
    async def similar(
        request: Request,
        item_id: Annotated[str, Path(pattern=ID_PATTERN, description="Catalog item id.")],
        k: Annotated[int, Query(ge=1, le=100, description="How many items.")] = 10,
    ) -> dict[str, Any]:
        reco = request.app.state.recommender
        try:
            hits = reco.similar(item_id, k)
        except KeyError:
            raise HTTPException(404, f"item '{item_id}' is not in the index") from None
        items = reco.catalog.items
        return {
            "item_id": item_id,
            "items": [
                {
                    "item_id": i,
                    "similarity": round(s, 6),
                    "item_type": items[i].item_type if i in items else None,
                    "destination": items[i].destination if i in items else None,
                    "title": items[i].title if i in items else None,
                }
                for i, s in hits
            ],
        }
