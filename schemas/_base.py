"""Base classes shared by every contract: config, version field and privacy guard."""

from __future__ import annotations

from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from schemas._privacy import is_personal_key, personal_keys

SUPPORTED_VERSION = 1
# Error types whose message already names the field; the codec prefixes the nesting path only.
RULE_ERROR_TYPES = frozenset({"rule", "personal_data"})
PERSONAL_DATA_DETAIL = "would carry personal data; events carry pseudonymous ids only"


def rule_error(field: str, detail: str, error_type: str = "rule") -> PydanticCustomError:
    """Build a validation error for a cross-field rule, naming the offending field."""
    return PydanticCustomError(
        error_type, "field '{field}' {detail}", {"field": field, "detail": detail}
    )


class Record(BaseModel):
    """Frozen model that tolerates unknown keys but rejects personal-data keys."""

    # extra="allow" keeps unknown keys visible, so the privacy guard can see them cheaply.
    model_config = ConfigDict(extra="allow", frozen=True, allow_inf_nan=False)

    # Names of dict[str, scalar] fields whose keys the privacy guard also inspects.
    SCALAR_MAPS: ClassVar[tuple[str, ...]] = ()

    @model_validator(mode="after")
    def _guard(self) -> Self:
        """Run the privacy guard and the model's cross-field rules."""
        extra = self.__pydantic_extra__
        if extra:
            _check_extra(extra)
        for field in self.SCALAR_MAPS:
            mapping: dict[str, Any] = getattr(self, field)
            for key in mapping:
                if is_personal_key(key):
                    raise rule_error(f"{field}.{key}", PERSONAL_DATA_DETAIL, "personal_data")
        self._check_rules()
        return self

    def _check_rules(self) -> None:
        """Override to enforce cross-field rules; raise rule_error on violation."""


class Contract(Record):
    """Versioned top-level message published on its own topic."""

    # Logical topic name, the field used as Kafka key (None: no key) and the schema file stem.
    KIND: ClassVar[str]
    KEY_FIELD: ClassVar[str | None]
    SCHEMA_NAME: ClassVar[str]

    v: int = Field(
        default=SUPPORTED_VERSION,
        ge=1,
        le=SUPPORTED_VERSION,
        description="Schema version of this message; readers reject versions newer than theirs.",
    )


def _check_extra(extra: dict[str, Any]) -> None:
    """Reject personal-data keys among unknown fields and drop null ones."""
    for path in personal_keys(extra):
        raise rule_error(path, PERSONAL_DATA_DETAIL, "personal_data")
    # Null unknown fields carry nothing, and encode() omits nulls: dropping keeps round trips exact.
    for key in [key for key, value in extra.items() if value is None]:
        del extra[key]
