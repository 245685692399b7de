"""The one settings object: every knob of every process, read from the environment."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Annotated, Literal

import orjson
from pydantic import (
    AliasChoices,
    BaseModel,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import NoDecode, SettingsConfigDict

from recommender.console.config import USER_NAME_PATTERN, ConsoleUser
from recommender.engagement.config import EngagementPolicy
from recommender.errors import ConfigError
from recommender.settings_security import SecuritySettings, security_problems

LOGICAL_TOPICS = (
    "clicks",
    "bookings",
    "catalog",
    "prices",
    "consent",
    "feedback",
    "offers",
    "deadletters",
    "erasures",  # tombstones (key = user id, no value) after an erasure request
)


class Settings(SecuritySettings):
    """Configuration for workers, API and tools; env prefix ``RECO_``.

    Kafka SASL/SSL and Redis AUTH/TLS fields come from ``SecuritySettings``
    (recommender/settings_security.py).
    """

    # "__" reaches into nested models: RECO_ENGAGEMENT__DAILY_CAP sets engagement.daily_cap.
    model_config = SettingsConfigDict(
        env_prefix="RECO_", env_nested_delimiter="__", frozen=True, extra="ignore"
    )

    # --- where the infrastructure is -------------------------------------------------
    kafka_bootstrap: str = Field(
        "127.0.0.1:9092",
        validation_alias=AliasChoices("KAFKA_BOOTSTRAP", "RECO_KAFKA_BOOTSTRAP"),
        description="Kafka bootstrap servers, comma separated host:port.",
    )
    redis_url: str = Field(
        "redis://127.0.0.1:6379/0",
        validation_alias=AliasChoices("REDIS_URL", "RECO_REDIS_URL"),
        description="Redis URL holding the online state.",
    )
    topic_prefix: str = Field(
        "", description="Prepended to every topic name, to share one cluster between setups."
    )
    key_prefix: str = Field(
        "reco",
        pattern=r"^[A-Za-z0-9_.-]{1,32}$",
        description="First segment of every Redis key, so several setups can share one Redis.",
    )
    topic_partitions: int = Field(
        4, ge=1, le=1024, description="Partitions per topic when the worker creates them."
    )

    # --- worker ------------------------------------------------------------------------
    app_id: str = Field("reco-worker", description="Faust app id = Kafka consumer group.")
    engine: Literal["batch", "faust"] = Field(
        "batch",
        description=(
            "How the worker reads the hot topics: 'batch' pays per fetched batch (an aiokafka "
            "consumer hosted by the Faust app), 'faust' uses Faust agents with stream.take_events"
            " (pays Faust's per-message cost; ~10k events/s ceiling)."
        ),
    )
    assignment: Literal["group", "static"] = Field(
        "group",
        description=(
            "'group': Kafka consumer-group rebalancing (default). 'static': this worker takes "
            "partitions p with p % worker_count == worker_index and never rebalances (for "
            "StatefulSet-style deployments and benchmarks; batch engine only)."
        ),
    )
    worker_index: int = Field(0, ge=0, description="This worker's index with static assignment.")
    worker_count: int = Field(1, ge=1, description="Number of workers with static assignment.")
    topic_replication: int = Field(
        1, ge=1, le=16, description="Replication factor of topics the worker creates."
    )
    batch_size: int = Field(2000, ge=1, le=100_000, description="Max events applied per batch.")
    batch_window_s: float = Field(
        0.05, gt=0, le=10, description="Longest a partial batch waits before it is applied, s."
    )
    fetch_max_wait_ms: int = Field(
        20,
        ge=0,
        le=10_000,
        description=(
            "Longest the broker holds an empty fetch, ms. Lower = fresher profiles (a click waits"
            " for the next fetch) at the cost of more idle fetch requests."
        ),
    )
    redis_retry_s: float = Field(
        120.0,
        gt=0,
        description="How long a batch retries an unreachable Redis before the worker gives up, s.",
    )
    broker_session_timeout_s: float = Field(10.0, gt=0, description="Consumer session timeout, s.")
    broker_rebalance_timeout_s: float = Field(
        10.0, gt=0, description="Faust rebalance timeout, s (a rebalance waits half of it)."
    )
    item_cache_ttl_s: float = Field(
        5.0,
        ge=0,
        description="How long a worker reuses catalog items it read, s (0 = always read Redis).",
    )
    startup_wait_s: float = Field(
        30.0, ge=0, description="How long a process waits for Kafka and Redis at start, s."
    )
    metrics_port: int = Field(
        9101, ge=0, le=65535, description="Port of the worker's /metrics endpoint (0 = off)."
    )
    worker_name: str = Field("", description="Name in dead letters and logs; default host:pid.")
    log_format: Literal["json", "text"] = Field(
        "json",
        description="Log lines on stderr: 'json' (one object a line, for log shippers) or 'text'.",
    )

    # --- API -------------------------------------------------------------------------------
    api_host: str = Field("127.0.0.1", description="Address the API listens on.")
    api_port: int = Field(8080, ge=1, le=65535, description="Port the API listens on.")
    api_workers: int = Field(
        1,
        ge=1,
        le=64,
        description="API processes on this host; each loads the catalog and index itself.",
    )
    api_auth: bool = Field(True, description="Require API keys (false only for development).")
    api_keys_app: list[str] = Field(
        default_factory=list,
        description=(
            "Keys for the app backend (JSON list in the env); each either 'sha256:<hex digest>'"
            " (recommended: the key itself is then not in the config) or the key itself."
        ),
    )
    api_keys_admin: list[str] = Field(
        default_factory=list,
        description="Keys for admin endpoints (JSON list in the env), same forms as the app keys.",
    )
    api_rate_limit_rps: float = Field(
        3000.0,
        ge=0,
        description="Requests/s per API key (or client address) and API process; 0 = no limit.",
    )
    api_rate_limit_burst: float = Field(
        3000.0, ge=1, description="Requests a caller may send at once before the rate applies."
    )
    api_max_body_bytes: int = Field(
        65_536, ge=1024, description="Largest request body accepted (413 above), bytes."
    )
    api_cors_origins: list[str] = Field(
        default_factory=list,
        description="Browser origins allowed to call the API (CORS); empty = none (closed).",
    )

    # --- model ---------------------------------------------------------------------------
    model_dir: str = Field(
        ".run/models", description="Where the trainer writes models, one directory per version."
    )
    model_poll_s: float = Field(
        5.0, gt=0, description="How often API and workers check for a newly published model, s."
    )
    model_keep: int = Field(
        5, ge=1, le=1000, description="Model versions the trainer keeps on disk (older deleted)."
    )
    model_top_n: int = Field(
        50, ge=1, le=1000, description="Next items kept per item in the model's rule tables."
    )
    train_window_days: float = Field(
        90.0, ge=0, description="Train on events this close to the newest one, days (0 = all)."
    )
    train_trip_days: float = Field(
        30.0, gt=0, description="One user's bookings this close together form one trip, days."
    )
    train_timeout_s: float = Field(
        600.0, gt=0, description="Longest the trainer reads Kafka, then trains on what it has, s."
    )
    train_idle_s: float = Field(
        2.0, gt=0, description="Trainer: a partition at its end, idle this long, is fully read, s."
    )
    train_cooc_window: int = Field(
        5, ge=1, le=50, description="Clicks either side that co-occur, for learning item vectors."
    )
    train_min_count: float = Field(
        5.0, ge=0, description="Weighted co-occurrences before an item's learned vector is trusted."
    )
    train_alpha: float = Field(
        0.8, ge=0, le=1, description="Share of the learned item vector in its blend with content."
    )

    index_nprobe: int = Field(
        16, ge=1, le=4096, description="IVF lists probed per query: the recall/latency knob."
    )

    # --- profile model -----------------------------------------------------------------
    vector_dim: int = Field(32, ge=4, le=1024, description="Item and user embedding dimension.")
    short_half_life_s: float = Field(
        1800.0, gt=0, description="Half-life of the short-term (session) embedding, s."
    )
    long_half_life_s: float = Field(
        30 * 86400.0, gt=0, description="Half-life of the long-term embedding, s."
    )
    affinity_half_life_s: float = Field(
        14 * 86400.0, gt=0, description="Half-life of affinity counters, s."
    )
    recent_items_max: int = Field(30, ge=1, le=500, description="Recent items kept per user.")
    booked_items_max: int = Field(50, ge=1, le=1000, description="Booked items kept per user.")
    affinity_max_keys: int = Field(
        24, ge=1, le=1000, description="Most entries kept per affinity counter (weakest pruned)."
    )
    base_currency: str = Field("CNY", pattern=r"^[A-Z]{3}$", description="Currency of bands.")
    fx_rates: dict[str, float] = Field(
        default_factory=lambda: {
            "CNY": 1.0,
            "USD": 7.1,
            "EUR": 7.7,
            "JPY": 0.047,
            "HKD": 0.91,
            "THB": 0.2,
            "GBP": 9.0,
            "SGD": 5.3,
            "KRW": 0.0052,
        },
        description="Units of base currency per unit of each currency (JSON in the env).",
    )

    # --- customer engagement ---------------------------------------------------------------
    engagement: EngagementPolicy = Field(
        default_factory=EngagementPolicy,
        description=(
            "Trigger, push-policy, segment and loyalty thresholds (recommender/engagement/"
            "config.py); one value per RECO_ENGAGEMENT__<FIELD>, or all as JSON in "
            "RECO_ENGAGEMENT."
        ),
    )

    # --- engagement worker (streams/engage*.py) ----------------------------------------------
    engage_enabled: bool = Field(
        True,
        description="Run the engagement pipelines (offers) in the worker, as consumer groups "
        "'<app_id>-engage' and '<app_id>-engage-prices' beside ingest.",
    )
    engage_sweep_s: float = Field(
        5.0, gt=0, le=3600, description="How often a worker runs the time-based trigger sweeps, s."
    )
    engage_clock: Literal["wall", "event"] = Field(
        "wall",
        description="Sweep clock: 'wall' = system time; 'event' = the newest event time this "
        "worker applied (simulations and replays decide as they would have live).",
    )
    engage_sweep_lock_s: float = Field(
        30.0,
        gt=0,
        description="TTL of a sweep's Redis lock, s; a crashed worker's lock frees after this.",
    )
    engage_sweep_batch: int = Field(
        1000, ge=1, le=100_000, description="Due users (or held offers) read per sweep step."
    )
    engage_fanout_chunk: int = Field(
        5000,
        ge=1,
        le=100_000,
        description="Watchers per step of a price-drop fan-out (one read, one gate pipeline).",
    )
    engage_offer_items: int = Field(
        6, ge=1, le=20, description="Items per reactivation, reminder or cross-sell offer."
    )

    # --- CRM console (recommender/console) ------------------------------------------------
    console_users: Annotated[dict[str, ConsoleUser], NoDecode] = Field(
        default_factory=dict,
        description=(
            'Who may sign in to the console: JSON {"name": {"role": "analyst"|"admin", '
            '"password": "scrypt$..."}}; make a hash with `python -m recommender '
            "console-hash-password`. Empty: nobody can sign in."
        ),
    )
    console_secret: SecretStr = Field(
        SecretStr(""),
        description=(
            "Key that signs console session cookies (HMAC-SHA256), at least 32 characters, "
            "required with console users; changing it signs everybody out."
        ),
    )
    console_session_ttl_s: float = Field(
        8 * 3600.0, ge=60, le=7 * 86400, description="How long a console sign-in lasts, s."
    )
    console_cookie_secure: bool = Field(
        False,
        description=(
            "Mark console cookies Secure even when the request came over plain HTTP (behind "
            "a TLS proxy that does not forward the scheme); HTTPS requests always get it."
        ),
    )
    console_audit_days: float = Field(
        400.0,
        gt=0,
        description="How long the audit trail keeps console entries (lookups, changes), days.",
    )

    @field_validator("console_users", mode="before")
    @classmethod
    def _users_json(cls, v: object) -> object:
        if isinstance(v, str | bytes):
            try:
                v = orjson.loads(v)
            except orjson.JSONDecodeError as exc:
                raise ValueError(f"not JSON: {exc}") from None
        if isinstance(v, dict):
            bad = [k for k in v if not isinstance(k, str) or not re.match(USER_NAME_PATTERN, k)]
            if bad:
                raise ValueError(f"user names must match {USER_NAME_PATTERN} (bad: {bad[0]!r})")
        return v

    @field_validator("console_secret")
    @classmethod
    def _secret_strong(cls, v: SecretStr, info: ValidationInfo) -> SecretStr:
        if info.data.get("console_users") and len(v.get_secret_value()) < 32:
            raise ValueError("console users are set, so a secret of >= 32 characters is needed")
        return v

    @field_validator("fx_rates")
    @classmethod
    def _rates_positive(cls, v: dict[str, float]) -> dict[str, float]:
        bad = [k for k, r in v.items() if not r > 0]
        if bad:
            raise ValueError(f"fx rates must be > 0 (bad: {', '.join(sorted(bad))})")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if self.short_half_life_s >= self.long_half_life_s:
            raise ValueError("short_half_life_s must be shorter than long_half_life_s")
        if self.worker_index >= self.worker_count:
            raise ValueError(
                f"worker_index {self.worker_index} must be below worker_count {self.worker_count}"
            )
        if self.assignment == "static" and self.engine != "batch":
            raise ValueError("assignment 'static' needs engine 'batch'")
        problems = security_problems(self, self.redis_url)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def topic(self, logical: str) -> str:
        """Physical topic name for a logical one ('clicks' -> prefix + 'clicks')."""
        if logical not in LOGICAL_TOPICS:
            raise ValueError(f"unknown topic {logical!r}; known: {', '.join(LOGICAL_TOPICS)}")
        return f"{self.topic_prefix}{logical}"


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment (plus overrides), or ConfigError naming the bad value."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"])
            msg = str(err["msg"]).removeprefix("Value error, ")
            # Cross-field rules have no location; their message names the fields.
            lines.append(f"  {where} ({env_var(err['loc'])}): {msg}" if where else f"  {msg}")
        raise ConfigError("invalid settings:\n" + "\n".join(lines)) from None


def env_var(loc: tuple[int | str, ...]) -> str:
    """The environment variable behind an error location: nested models join with '__'."""
    model: type[BaseModel] | None = Settings
    parts = []
    for part in loc:
        if model is None:
            break  # a map key or list index: the variable holds the whole map or list
        parts.append(str(part).upper())  # a field, or the unknown name a variable used
        field = model.model_fields.get(str(part))
        sub = field.annotation if field is not None else None
        model = sub if isinstance(sub, type) and issubclass(sub, BaseModel) else None
    return "RECO_" + "__".join(parts)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Process-wide settings, read once."""
    return load_settings()
