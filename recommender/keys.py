"""Builds every Redis key; the layout is documented in REDIS_KEYS.md beside this file."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Keys:
    """Key builder for one key prefix (``Settings.key_prefix``)."""

    prefix: str = "reco"

    def user(self, user_id: str) -> str:
        """String: the profile blob (profile_codec.py), its write version in the header."""
        return f"{self.prefix}:u:{{{user_id}}}"

    def customer(self, user_id: str) -> str:
        """String: the customer state blob (engagement/codec.py); same hash tag as the user."""
        return f"{self.prefix}:u:{{{user_id}}}:cs"

    def offer_decision(self, user_id: str, offer_id: str) -> str:
        """String: the push gate's first decision about an offer ('sent' or a reason); TTL."""
        return f"{self.prefix}:u:{{{user_id}}}:offer:{offer_id}"

    def offers_sent(self, user_id: str, day: str) -> str:
        """String: offers sent to the user on their local day YYYYMMDD (daily cap); TTL."""
        return f"{self.prefix}:u:{{{user_id}}}:sent:{day}"

    def offer_cooldown(self, user_id: str, item_key: str) -> str:
        """String: time of the last offer to the user about this item; TTL = the cooldown."""
        return f"{self.prefix}:u:{{{user_id}}}:cool:{item_key}"

    def decisions(self, user_id: str) -> str:
        """Stream: the user's latest offer decisions (sent, held, suppressed + reason), capped."""
        return f"{self.prefix}:u:{{{user_id}}}:decisions"

    def customer_facts(self, user_id: str) -> str:
        """String: consent, time zone and complaint hold (JSON) for bulk offer decisions."""
        return f"{self.prefix}:u:{{{user_id}}}:facts"

    def watchers(self, item_id: str) -> str:
        """Sorted set: user -> time they last viewed or wishlisted the item (price drops)."""
        return f"{self.prefix}:w:{{{item_id}}}"

    def watcher_prices(self, item_id: str) -> str:
        """Hash: user -> price of the item they last saw; same hash tag as the watchers."""
        return f"{self.prefix}:w:{{{item_id}}}:p"

    def watcher_max_price(self, item_id: str) -> str:
        """Sorted set of one member, ``max``: the highest price any watcher was indexed with
        since the key was made (only raised, ``ZADD GT``); same hash tag and lifetime."""
        return f"{self.prefix}:w:{{{item_id}}}:pmax"

    def item_price(self, item_id: str) -> str:
        """String: the item's last price from the prices topic, JSON ``[price, ts]``."""
        return f"{self.prefix}:price:{{{item_id}}}"

    def due(self, kind: str) -> str:
        """Sorted set: user -> time the sweep of ``kind`` should look at them next."""
        return f"{self.prefix}:due:{kind}"

    def held_offers(self) -> str:
        """Sorted set: serialised candidate offer -> time its quiet-hours hold ends."""
        return f"{self.prefix}:held"

    def sweep_lock(self, kind: str) -> str:
        """String: owner token of the running sweep of ``kind``; short TTL."""
        return f"{self.prefix}:lock:sweep:{kind}"

    def engage_stats(self) -> str:
        """Hash: counters of events applied and dead-lettered by the engagement pipelines."""
        return f"{self.prefix}:engage:stats"

    def item(self, item_id: str) -> str:
        """String: item metadata as JSON."""
        return f"{self.prefix}:item:{item_id}"

    def item_vector(self, item_id: str) -> str:
        """String: item vector, little-endian float32."""
        return f"{self.prefix}:ivec:{item_id}"

    def items(self) -> str:
        """Set: ids of every item in the catalog (active or not)."""
        return f"{self.prefix}:items"

    def unknown_items(self) -> str:
        """Hash: item id -> times seen in events before the catalog knew it."""
        return f"{self.prefix}:items:unknown"

    def catalog_log(self) -> str:
        """Stream: one entry per catalog change (item id, active), for index followers."""
        return f"{self.prefix}:catalog:log"

    def popularity(self, day: str, market: str) -> str:
        """Sorted set: item -> summed event weight on that UTC day in that market."""
        return f"{self.prefix}:pop:{day}:{market}"

    def model_current(self) -> str:
        """String: the model version every API replica should serve."""
        return f"{self.prefix}:model:current"

    def model_path(self, version: str) -> str:
        """String: the directory holding that model version."""
        return f"{self.prefix}:model:{version}:path"

    def offsets(self, group: str, topic: str, partition: int) -> str:
        """String: highest offset of (topic, partition) applied to Redis by this group."""
        return f"{self.prefix}:off:{group}:{topic}:{partition}"

    def offsets_pattern(self, group: str) -> str:
        """Pattern matching all offset watermarks of one group."""
        return f"{self.prefix}:off:{group}:*"

    def stats(self) -> str:
        """Hash: counters of applied and dead-lettered events by topic (written atomically)."""
        return f"{self.prefix}:stats"

    def audit(self) -> str:
        """Stream: who did what to whom in the console (lookups, kill switches); time-trimmed."""
        return f"{self.prefix}:audit"

    def policy_overrides(self) -> str:
        """Hash: runtime overrides of the engagement policy (``kind:<offer kind>`` -> on/off)."""
        return f"{self.prefix}:policy:overrides"

    def all_pattern(self) -> str:
        """Pattern matching every key of this prefix (tests and erasure tools)."""
        return f"{self.prefix}:*"
