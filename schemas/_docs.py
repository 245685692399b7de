"""Field descriptions reused across contracts; the JSON Schema files publish them."""

ID_RULE = "pseudonymous, 1-128 chars of [A-Za-z0-9_.:-]"
EVENT_ID = f"Unique id of this event, for de-duplication ({ID_RULE})."
USER_ID = f"Pseudonymous user id ({ID_RULE}); never an e-mail or phone number."
ITEM_ID = f"Catalog item id ({ID_RULE})."
SESSION_ID = f"Client session id ({ID_RULE})."
ITEM_TYPE = "Kind of travel product: hotel, flight, tour, car or attraction."
DESTINATION = "Destination city slug, lowercase [a-z0-9_-], 1-64 chars, e.g. 'sanya'."
CURRENCY = "ISO 4217 currency code of the amount, three upper-case letters, e.g. 'CNY'."
PRICE = "Price per unit in `currency` major units (e.g. yuan, not fen); finite, >= 0."
TS = "Time the event happened, Unix seconds (UTC, fractional allowed, not milliseconds)."
TRAVEL_START = "First day of the trip, ISO 8601 date (YYYY-MM-DD), traveller's local date."
TRAVEL_END = "Last day of the trip, ISO 8601 date (YYYY-MM-DD); not before travel_start."
CHANNEL = "Delivery channel: push, sms, email or wechat."
SCALARS = (
    "Keys are free-form names (max 64 entries); values are strings, integers, numbers or booleans."
)
