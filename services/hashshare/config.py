"""Settings, read from `HASHSHARE_*` environment variables.

Development mode accepts a shared HS256 secret so that `hashshare serve` works with nothing
configured. Outside development mode the service verifies only asymmetric signatures with
keys it was given, and refuses to start on a missing or default secret.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from hashshare.hashing import DEFAULT_FORMATS, DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS

DEFAULT_DEV_SECRET = "hashshare-development-secret-do-not-use-in-production"  # noqa: S105
DEFAULT_DEV_AUDIT_KEY = "hashshare-development-audit-key-do-not-use-in-production"
ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
SYMMETRIC_ALGORITHMS = frozenset({"HS256", "HS384", "HS512"})
MIN_SECRET_BYTES = 32
IMAGE_FORMATS = frozenset(DEFAULT_FORMATS)


class ConfigError(Exception):
    """The configuration cannot run safely; the message says what to change."""


class ConfigProblems(ValueError):
    """Every problem the security checks found, not only the first."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


DATABASE_DRIVERS = ("sqlite+aiosqlite:", "postgresql+asyncpg:")


def check_database_url(url: str, name: str = "HASHSHARE_DATABASE_URL") -> str:
    """Refuse a URL whose driver hashshare does not ship (say, `postgresql://`)."""
    if not url.startswith(DATABASE_DRIVERS):
        scheme = url.split("://", 1)[0] if "://" in url else url[:20]
        raise ValueError(
            f"{name} must start with postgresql+asyncpg:// or "
            f"sqlite+aiosqlite:/// (it starts with {scheme!r}); hashshare reaches PostgreSQL "
            "through asyncpg"
        )
    return url


def _split_csv(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    """All configuration of one hashshare process."""

    model_config = SettingsConfigDict(env_prefix="HASHSHARE_", extra="ignore")

    database_url: str = Field(
        default="sqlite+aiosqlite:///./hashshare.db",
        description="SQLAlchemy async URL: sqlite+aiosqlite:///path or postgresql+asyncpg://...",
    )
    read_database_url: str | None = Field(
        default=None,
        description="A read-only copy (a PostgreSQL streaming replica) for the reads that "
        "tolerate its lag: statistics, the audit log's list, verification and export, and the "
        "`report` and `audit export` commands. Unset: the primary serves them.",
    )
    dev_mode: bool = Field(default=False, description="Accept a shared HS256 secret.")
    jwt_secret: str | None = Field(default=None, description="HS256 secret (development only).")
    jwt_issuer: str = "hashshare"
    jwt_audience: str = "hashshare"
    jwt_algorithms: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Accepted signature algorithms, comma-separated. Default: HS256 in "
        "development mode, RS256 and ES256 and EdDSA otherwise.",
    )
    jwt_public_keys: dict[str, str] = Field(
        default_factory=dict, description="JSON object mapping key id (kid) to a PEM public key."
    )
    jwks_file: Path | None = Field(default=None, description="JWKS file of verification keys.")
    jwt_private_key_file: Path | None = Field(
        default=None, description="PEM private key used by `hashshare token issue` in production."
    )
    jwt_private_key_id: str | None = Field(default=None, description="kid of that private key.")
    audit_key: str | None = Field(
        default=None,
        description="Secret key of the HMAC that stands in for unmatched query values in the "
        "audit log (at least 32 bytes; required outside development mode).",
    )
    checkpoint_key_file: Path | None = Field(
        default=None,
        description="Ed25519 private key (PEM) that signs audit checkpoints; in development "
        "mode a key is generated at start-up when unset (`hashshare audit keygen` makes one).",
    )
    checkpoint_interval_minutes: float = Field(
        default=60,
        ge=0,
        le=7 * 24 * 60,
        description="Publish a signed audit checkpoint this often (0: only on request). "
        "Replicas share the schedule: one publishes, the others see it was done.",
    )
    stats_public: bool = Field(
        default=False, description="Serve GET /v1/stats without a token (transparency)."
    )
    dispute_min_disagreements: int = Field(
        default=2, ge=1, description="Members that must disagree before a hash is disputed."
    )
    dispute_min_disagreements_single_contributor: int = Field(
        default=1, ge=1, description="The same, for a hash with a single contributor."
    )
    jwt_leeway_seconds: int = Field(default=30, ge=0, le=300)
    access_refresh_seconds: float = Field(
        default=1.0,
        gt=0,
        le=60,
        description="How often each process re-reads suspended members and revoked tokens: a "
        "suspension or revocation takes effect on every replica within this long.",
    )
    rate_limit_per_second: float = Field(
        default=0.0,
        ge=0,
        description="Requests a member may make per second on average, in each process "
        "(0: no limit); beyond it, 429 rate_limited with Retry-After.",
    )
    rate_limit_burst: int = Field(
        default=50, ge=1, description="Requests a member may make at once within that rate."
    )
    max_body_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    max_upload_bytes: int = Field(
        default=DEFAULT_MAX_BYTES, ge=1024, description="Largest image accepted for hashing."
    )
    max_image_pixels: int = Field(
        default=DEFAULT_MAX_PIXELS, ge=1, description="Larger images are refused before decoding."
    )
    image_hash_seconds: float = Field(
        default=30.0,
        gt=0,
        description="Longest an upload may take to hash; past it the worker is killed and the "
        "upload refused (422 image_hashing_timeout).",
    )
    image_formats: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(DEFAULT_FORMATS),
        description="Accepted image formats, comma-separated (a subset of the default).",
    )
    max_submit_items: int = Field(default=10_000, ge=1)
    max_match_queries: int = Field(default=1_000, ge=1)
    max_distance_ceilings: dict[str, int] = Field(
        default_factory=lambda: {"pdq": 64, "phash": 16, "dhash": 16, "ahash": 16, "whash": 16},
        description="Largest max_distance a query may ask for, per signal type.",
    )
    min_pdq_quality: int = Field(default=50, ge=0, le=100)
    index_load_chunk: int = Field(default=50_000, ge=1)
    hit_cache_size: int = Field(
        default=100_000,
        ge=0,
        description="Stored hashes whose match details are kept in memory (0: read each time).",
    )
    feed_poll_seconds: float = Field(
        default=0.5, gt=0, le=60, description="How often replicas poll the change feed."
    )
    sqlite_busy_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        le=300,
        description="SQLite: how long a statement waits for another writer's lock before the "
        "request is answered 503 database_unavailable.",
    )
    feed_max_wait_seconds: float = Field(
        default=30.0,
        ge=0,
        le=300,
        description="Longest long-poll of GET /v1/changes (its `wait` is capped to this).",
    )
    allow_numpy_kernel: bool = Field(
        default=False,
        description="Serve from the numpy match kernel (about 20 times slower) when the "
        "compiled one is missing; refused outside development mode otherwise.",
    )
    startup_jitter_seconds: float = Field(
        default=0.0,
        ge=0,
        le=600,
        description="Wait a random time up to this before loading the index, so replicas "
        "started together do not all read the database at once.",
    )

    @field_validator("jwt_algorithms", mode="before")
    @classmethod
    def _parse_algorithms(cls, value: Any) -> Any:
        return _split_csv(value)

    @field_validator("image_formats", mode="before")
    @classmethod
    def _parse_image_formats(cls, value: Any) -> Any:
        formats = _split_csv(value)
        if isinstance(formats, list):
            formats = [str(name).upper() for name in formats]
            unknown = sorted(set(formats) - IMAGE_FORMATS)
            if unknown or not formats:
                raise ValueError(f"choose image formats among {', '.join(sorted(IMAGE_FORMATS))}")
        return formats

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        return check_database_url(value)

    @field_validator("read_database_url")
    @classmethod
    def _check_read_database_url(cls, value: str | None) -> str | None:
        return None if value is None else check_database_url(value, "HASHSHARE_READ_DATABASE_URL")

    @model_validator(mode="after")
    def _check_security(self) -> Settings:
        problems = self._security_problems()
        if problems:
            raise ConfigProblems(problems)
        return self

    def _security_problems(self) -> list[str]:
        """Fill in the mode's defaults; return every problem found, in plain words."""
        if not self.jwt_algorithms:
            self.jwt_algorithms = ["HS256"] if self.dev_mode else ["RS256", "ES256", "EdDSA"]
        unknown = set(self.jwt_algorithms) - ASYMMETRIC_ALGORITHMS - SYMMETRIC_ALGORITHMS
        if unknown:
            return [f"unsupported JWT algorithms: {sorted(unknown)}"]
        symmetric = set(self.jwt_algorithms) & SYMMETRIC_ALGORITHMS
        asymmetric = set(self.jwt_algorithms) & ASYMMETRIC_ALGORITHMS
        problems = []
        if symmetric and asymmetric:
            # One verifier never mixes families: that is how HS/RS confusion happens.
            problems.append("HASHSHARE_JWT_ALGORITHMS must not mix HS* with asymmetric ones")
        if self.audit_key is None and self.dev_mode:
            self.audit_key = DEFAULT_DEV_AUDIT_KEY
        if self.audit_key is None or len(self.audit_key.encode()) < MIN_SECRET_BYTES:
            problems.append(
                f"HASHSHARE_AUDIT_KEY must be set to a secret of at least {MIN_SECRET_BYTES} "
                "bytes (it keys the HMAC of unmatched queries in the audit log; "
                "`hashshare keys generate` makes one)"
            )
        elif not self.dev_mode and self.audit_key == DEFAULT_DEV_AUDIT_KEY:
            problems.append("HASHSHARE_AUDIT_KEY is the development key; set a real secret")
        if self.dev_mode:
            if symmetric and self.jwt_secret is None:
                self.jwt_secret = DEFAULT_DEV_SECRET
            if symmetric and len(self.jwt_secret.encode()) < MIN_SECRET_BYTES:  # type: ignore[union-attr]
                problems.append(f"HASHSHARE_JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes")
            return problems
        if symmetric:
            problems.append(
                "HS* shared-secret tokens are accepted only with HASHSHARE_DEV_MODE=1; "
                "configure RS256/ES256/EdDSA and HASHSHARE_JWKS_FILE or HASHSHARE_JWT_PUBLIC_KEYS"
            )
        if self.jwt_secret is not None:
            problems.append(
                "HASHSHARE_JWT_SECRET is set outside development mode; remove it and configure "
                "HASHSHARE_JWKS_FILE or HASHSHARE_JWT_PUBLIC_KEYS"
            )
        if not self.jwt_public_keys and self.jwks_file is None:
            problems.append(
                "no token verification keys: set HASHSHARE_JWKS_FILE or HASHSHARE_JWT_PUBLIC_KEYS "
                "(`hashshare keys generate` makes a JWKS; or HASHSHARE_DEV_MODE=1 for local "
                "development)"
            )
        return problems

    @property
    def is_sqlite(self) -> bool:
        from hashshare.db import is_postgresql

        return not is_postgresql(self.database_url)


def _describe(error: Any) -> list[str]:
    """One pydantic error in plain words, named by its environment variable."""
    cause = error.get("ctx", {}).get("error")
    if isinstance(cause, ConfigProblems):
        return list(cause.problems)
    # A validator's own message, without pydantic's "Value error, " in front of it.
    text = str(cause) if isinstance(cause, ValueError) else str(error["msg"])
    loc = [str(part) for part in error["loc"]]
    if not loc:
        return [text]
    name = "HASHSHARE_" + loc[0].upper() + "".join(f"[{part}]" for part in loc[1:])
    return [text if text.startswith(name) else f"{name}: {text}"]


def settings_problems(**overrides: Any) -> tuple[Settings | None, list[str]]:
    """Every problem of the settings, with the settings where they could still be built.

    A field that fails is put back to its default and the checks run again, so the problems
    beyond it are found in the same pass; the settings returned then hold those defaults, for
    further checks only: with any problem listed, they must not be used to run.
    """
    from pydantic import ValidationError

    values = dict(overrides)
    problems: list[str] = []
    for _ in range(len(Settings.model_fields) + 1):
        try:
            settings = Settings(**values)
        except ValidationError as exc:
            errors = exc.errors()
            problems.extend(p for error in errors for p in _describe(error) if p not in problems)
            failed = {str(error["loc"][0]) for error in errors if error["loc"]} - set(values)
            if not failed:
                return None, problems
            for name in failed:
                values[name] = Settings.model_fields[name].get_default(call_default_factory=True)
            continue
        return settings, problems
    return None, problems


def load_settings(**overrides: Any) -> Settings:
    """Read settings from the environment; raise ConfigError naming every problem."""
    settings, problems = settings_problems(**overrides)
    if settings is None or problems:
        raise ConfigError("invalid configuration: " + "; ".join(problems))
    return settings


class DatabaseSettings(BaseSettings):
    """Only where the database is: what commands that read or migrate need, and no keys."""

    model_config = SettingsConfigDict(env_prefix="HASHSHARE_", extra="ignore")

    database_url: str = Settings.model_fields["database_url"].default
    read_database_url: str | None = None

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        return check_database_url(value)

    @field_validator("read_database_url")
    @classmethod
    def _check_read_database_url(cls, value: str | None) -> str | None:
        return None if value is None else check_database_url(value, "HASHSHARE_READ_DATABASE_URL")


def _database_settings() -> DatabaseSettings:
    from pydantic import ValidationError

    try:
        return DatabaseSettings()
    except ValidationError as exc:
        raise ConfigError("; ".join(p for e in exc.errors() for p in _describe(e))) from exc


def load_database_url() -> str:
    """HASHSHARE_DATABASE_URL (or the default), checked; no other setting is read."""
    return _database_settings().database_url


def load_read_database_url() -> str:
    """Where reads that tolerate a replica's lag go: HASHSHARE_READ_DATABASE_URL, else the
    primary."""
    settings = _database_settings()
    return settings.read_database_url or settings.database_url
