"""Detects keys that would carry personal data, so events stay pseudonymous."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import lru_cache

# Exact matches only: as substrings these would catch 'hotel_name', 'adobe', 'is_mobile'.
_EXACT = frozenset(
    {
        "name",
        "firstname",
        "lastname",
        "fullname",
        "username",
        "realname",
        "guestname",
        "passengername",
        "surname",
        "givenname",
        "mail",
        "email",
        "mobile",
        "dob",
        "ssn",
    }
)
# Substrings: no legitimate travel field contains these ('destination' lacks 'nationalid').
_CONTAINS = (
    "phone",
    "email",
    "mobileno",
    "mobilenumber",
    "idcard",
    "idnumber",
    "nationalid",
    "passport",
    "address",
    "birthdate",
    "birthday",
    "dateofbirth",
    "socialsecurity",
)
_SEPARATORS = str.maketrans("", "", "-_ ")
# Bounds the walk into unknown nested values; deeper payloads are not worth the time.
_MAX_DEPTH = 4


def normalise_key(key: str) -> str:
    """Return key lowercased with '-', '_' and spaces removed."""
    return key.lower().translate(_SEPARATORS)


@lru_cache(maxsize=4096)
def is_personal_key(key: str) -> bool:
    """Return True when a key's name says it carries personal data."""
    norm = normalise_key(key)
    return norm in _EXACT or any(part in norm for part in _CONTAINS)


def personal_keys(data: Mapping[str, object], depth: int = 0) -> Iterator[str]:
    """Yield dotted paths of personal-data keys in data and its nested objects."""
    for key, value in data.items():
        if is_personal_key(key):
            yield key
        elif depth < _MAX_DEPTH:
            yield from (f"{key}.{sub}" for sub in _nested_keys(value, depth + 1))


def _nested_keys(value: object, depth: int) -> Iterator[str]:
    """Yield personal-data paths inside a nested dict or list value."""
    if isinstance(value, Mapping):
        yield from personal_keys(value, depth)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from (f"{index}.{sub}" for sub in _nested_keys(item, depth))
