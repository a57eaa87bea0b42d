"""SQL storage (SQLAlchemy 2 async): the charge-point repository and queries for REST.

`open_store(url)` is an async context manager: it creates the engine, brings
the schema to the newest Alembic revision and disposes of the engine on exit.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Connection, event
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from gateway.repositories.accounts import AccountRepository, CdrRepository
from gateway.repositories.chargers import ChargerStore
from gateway.repositories.energy import EnergyRepository
from gateway.repositories.events import EventRepository
from gateway.repositories.files import FileRepository
from gateway.repositories.id_tags import IdTagStore
from gateway.repositories.ocpi import OcpiRepository
from gateway.repositories.reservations import ReservationRepository
from gateway.repositories.station_costs import StationCostRepository
from gateway.repositories.tokens import TokenRepository
from gateway.repositories.transactions import TransactionStore

MIGRATIONS = Path(__file__).with_name("migrations")


def _alembic_config(connection: Connection) -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def _upgrade(connection: Connection) -> None:
    command.upgrade(_alembic_config(connection), "head")


async def migrate(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.run_sync(_upgrade)


class Store(ChargerStore, TransactionStore, IdTagStore):
    """chargepoints.ports.ChargePointRepository and the REST queries on SQL, one repository per aggregate
    (gateway/repositories/): chargers and sites, transactions, id tags; energy, tokens and events held apart."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._session = async_sessionmaker(engine, expire_on_commit=False)
        self._credentials: dict[str, tuple[tuple[int, str | None] | None, float]] = {}
        self._all_loaded_at = -1e9
        self._next_passwords: dict[str, str] = {}  # charger id -> the hash of a password it accepted, not yet used
        self._next_profiles: dict[str, int] = {}  # charger id -> a higher security profile it accepted, not yet used
        # id tag -> ((status, expiry, parent) or None when unknown, when read): a storm of starts reads each once
        self._id_tags: dict[str, tuple[tuple[str, datetime | None, str | None] | None, float]] = {}
        self.tokens = TokenRepository(self._session)
        self.events = EventRepository(self._session)
        self.reservations = ReservationRepository(self._session)
        self.files = FileRepository(self._session)
        self.energy = EnergyRepository(engine, self._session)
        self.accounts = AccountRepository(self._session)
        self.cdrs = CdrRepository(self._session)
        self.ocpi = OcpiRepository(self._session)
        self.station_costs = StationCostRepository(self._session)


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


@asynccontextmanager
async def open_store(url: str) -> AsyncIterator[Store]:
    """Open the database at `url`, migrate it to the newest schema, and close it on exit."""
    if url.startswith("sqlite") and ":///" in url and ":memory:" not in url:
        Path(url.split(":///", 1)[1]).parent.mkdir(parents=True, exist_ok=True)
    if url.startswith("sqlite"):
        # One connection: SQLite has a single writer, and a pool of them only
        # trades queueing in Python for "database is locked" errors under load.
        engine = create_async_engine(url, pool_size=1, max_overflow=0, pool_timeout=60, connect_args={"timeout": 30})
    else:
        # a storm of boots and starts queues for a connection rather than failing after the default 30 s
        engine = create_async_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True, pool_timeout=120)
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    try:
        await migrate(engine)
        yield Store(engine)
    finally:
        await engine.dispose()
