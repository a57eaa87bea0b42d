"""chargepoints.ports.Passwords on the store: a password a charger accepted, hashed and kept as its next one."""

from __future__ import annotations

import asyncio

from gateway.auth import hash_secret
from gateway.storage import Store


class StoredPasswords:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def accepted(self, charge_point_id: str, password: str) -> None:
        password_hash = await asyncio.to_thread(hash_secret, password)  # scrypt: off the event loop
        await self._store.set_next_password(charge_point_id, password_hash)
