"""Shared constrained field types used by every contract."""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Any, Literal, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, Field, GetCoreSchemaHandler
from pydantic_core import PydanticCustomError, core_schema

ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,128}$"
SLUG_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
CURRENCY_PATTERN = r"^[A-Z]{3}$"
# Anything above this is almost certainly milliseconds (year 5138 in seconds).
MAX_UNIX_SECONDS = 1e11

ItemType = Literal["hotel", "flight", "tour", "car", "attraction"]
Channel = Literal["push", "sms", "email", "wechat"]

Id = Annotated[str, Field(pattern=ID_PATTERN)]
Slug = Annotated[str, Field(min_length=1, max_length=64, pattern=SLUG_PATTERN)]
Currency = Annotated[str, Field(pattern=CURRENCY_PATTERN)]
Money = Annotated[float, Field(ge=0)]
UnixSeconds = Annotated[float, Field(gt=0, lt=MAX_UNIX_SECONDS)]


class _OneUnionError:
    """Collapses a scalar union's per-member errors into one error at the value's own loc."""

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        schema = handler(source)
        if schema["type"] == "union":
            union = cast(core_schema.UnionSchema, schema)
            # Without this pydantic reports one error per member, at locs like 'stars.str'.
            union["custom_error_type"] = "scalar_type"
            union["custom_error_message"] = "Input should be a string, integer, number or boolean"
        return schema


Scalar = Annotated[str | int | float | bool, _OneUnionError()]
ScalarMap = Annotated[dict[str, Scalar], Field(max_length=64)]


@lru_cache(maxsize=1024)
def _known_zone(name: str) -> bool:
    """Return True when name is an IANA zone this host knows."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a directory like "Asia"
        return False
    return True


def _check_zone(name: str) -> str:
    """Reject time-zone names that zoneinfo cannot load."""
    if not _known_zone(name):
        raise PydanticCustomError(
            "timezone", "Input should be an IANA time-zone name such as 'Asia/Shanghai'"
        )
    return name


TimeZoneName = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_check_zone)]
