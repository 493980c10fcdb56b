"""Settings from ORDERSCOPE_* environment variables, an optional TOML file, and CLI flags.

One object carries every knob so that commands, tests and the dashboard agree on where data
lives and which backend they talk to.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

Backend = Literal["embedded", "server"]
Role = Literal["manager", "analyst", "agent"]


class HubUser(BaseModel):
    """A person who signs in to the hub (dashboard or API, HTTP Basic); the password is kept as
    an Argon2id hash only (`orderscope users hash-password`)."""

    name: str = Field(min_length=1)
    role: Role
    password_hash: SecretStr


class HubToken(BaseModel):
    """An API token of a system (the OMS, a service desk); kept as its SHA-256 digest only
    (`orderscope users new-token`)."""

    name: str = Field(min_length=1)
    role: Role
    digest: SecretStr


def _default_home() -> Path:
    return Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "orderscope"


class Settings(BaseSettings):
    """Where the stores live and how to reach the servers."""

    model_config = SettingsConfigDict(
        env_prefix="ORDERSCOPE_",
        extra="ignore",
    )

    backend: Backend = "embedded"
    data_dir: Path = Field(default_factory=lambda: Path(".orderscope"))
    services_dir: Path = Field(default_factory=lambda: _default_home() / "services")
    # The lifecycle catalog (nodes, roles, phases, SLAs, transitions); None = the shipped one.
    catalog: Path | None = None

    # Memory for the embedded engines. Both default to 80 % of the machine each, which two
    # engines in one process cannot both have; None = a fifth of physical memory, at most 4 GiB.
    graph_buffer_pool_mb: int | None = None
    series_memory_limit_mb: int | None = None

    # Rows per ingest batch: bounds memory whatever a file's size (env ORDERSCOPE_INGEST_BATCH_ROWS).
    ingest_batch_rows: int = 1_000_000

    # Plausible event times (ingest quarantines anything outside; see ingest/timestamps.py):
    # from event_time_min to the wall clock at ingest + event_time_max_ahead_hours; planned
    # times (promised_at, due_at) up to now + planned_time_max_ahead_days. A naive
    # event_time_min is taken as UTC.
    event_time_min: datetime = datetime(2000, 1, 1, tzinfo=UTC)
    event_time_max_ahead_hours: float = Field(default=48.0, ge=0)
    planned_time_max_ahead_days: float = Field(default=1830.0, ge=0)
    # How integer (or decimal) epochs in a timestamp column are read; None: they are rejected.
    epoch_unit: Literal["s", "ms", "us", "ns"] | None = None

    neo4j_uri: str = "bolt://127.0.0.1:7687"
    neo4j_user: str = "neo4j"
    # Secrets: repr, str and model_dump show '**********'; .get_secret_value() where one is used.
    neo4j_password: SecretStr = SecretStr("orderscope-dev")
    neo4j_database: str = "neo4j"

    # The hub (`orderscope serve`): who may sign in, where files are dropped for ingest, how
    # large a pushed batch may be. With no users and no tokens it serves 127.0.0.1 only.
    users: list[HubUser] = Field(default_factory=list)
    tokens: list[HubToken] = Field(default_factory=list)
    inbox: Path | None = None  # default: <data_dir>/inbox
    max_request_mb: float = Field(default=64.0, gt=0)
    inbox_poll_seconds: float = Field(default=2.0, gt=0)

    pg_host: str = "127.0.0.1"
    pg_port: int = 5433
    pg_user: str = "orderscope"
    pg_password: SecretStr = SecretStr("orderscope-dev")
    pg_database: str = "orderscope"

    @property
    def pg_dsn(self) -> str:
        """libpq connection string, password included: pass it to a driver, never print it."""
        parts = {
            "host": self.pg_host,
            "port": self.pg_port,
            "user": self.pg_user,
            "password": self.pg_password.get_secret_value(),
            "dbname": self.pg_database,
        }
        return " ".join(f"{k}={_conninfo_value(v)}" for k, v in parts.items())

    @staticmethod
    def _share_mb() -> int:
        import psutil

        return int(min(4096, psutil.virtual_memory().total / 2**20 / 5))

    @property
    def graph_buffer_mb(self) -> int:
        return self.graph_buffer_pool_mb or self._share_mb()

    @property
    def series_memory_mb(self) -> int:
        return self.series_memory_limit_mb or self._share_mb()

    @property
    def graph_path(self) -> Path:
        return self.data_dir / "graph.lbug"

    @property
    def series_path(self) -> Path:
        return self.data_dir / "series.duckdb"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Flags beat environment, environment beats the TOML file ($ORDERSCOPE_CONFIG, read
        # when settings are made, not when this module is imported).
        toml_file = Path(os.environ.get("ORDERSCOPE_CONFIG", "orderscope.toml"))
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_file=toml_file))


def _conninfo_value(value: object) -> str:
    """A libpq keyword value, quoted when it is empty or holds spaces, quotes or backslashes."""
    text = str(value)
    if text and not any(c in text for c in " \t\n\r'\\"):
        return text
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def load_settings(**overrides: Any) -> Settings:
    """Settings with CLI overrides applied (None means 'not given')."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})
