"""Recommendation routes: recommendations for a user, similar items for an item."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request, Response

from recommender.api.auth import require
from recommender.ranking import Ranked, RankRequest
from recommender.recommend import Recommendations, Recommender

ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,128}$"
DESTINATION_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
ITEM_TYPES = frozenset({"hotel", "flight", "tour", "car", "attraction"})
MAX_EXCLUDE = 200


def _csv(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def parse_request(
    k: int, item_types: str | None, destination: str | None, exclude: str | None
) -> RankRequest:
    """A RankRequest from query parameters, or a 400 naming the bad one."""
    types = _csv(item_types)
    unknown = [t for t in types if t not in ITEM_TYPES]
    if unknown:
        raise HTTPException(
            400,
            f"invalid parameter 'item_types': unknown type '{unknown[0]}' "
            f"(one of {', '.join(sorted(ITEM_TYPES))})",
        )
    excluded = _csv(exclude)
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
            str | None, Query(description="Comma-separated item types to keep, e.g. hotel,tour.")
        ] = None,
        destination: Annotated[
            str | None,
            Query(pattern=DESTINATION_PATTERN, description="Only this destination."),
        ] = None,
        exclude: Annotated[
            str | None, Query(description="Comma-separated item ids never to return.")
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
