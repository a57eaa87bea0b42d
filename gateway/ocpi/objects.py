"""This CPO's OCPI objects from the platform's truth: sites and chargers (SQL, through the World and the
central system), sessions and CDRs (SQL), tariffs (SQL). The mapping itself is roaming's."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from billing.tariff import TariffError
from roaming.envelope import iso
from roaming.locations import ChargerFacts, Place, cdr_location, location_object
from roaming.sessions import SessionFacts, tariff_object
from roaming.tokens import Token, parse_token

if TYPE_CHECKING:
    from chargepoints.central import CentralSystem
    from chargepoints.ports import TransactionRecord
    from gateway.settings import Settings
    from gateway.storage import Store
    from gateway.world import World

EPOCH = datetime(2020, 1, 1, tzinfo=UTC)


class Objects:
    def __init__(self, settings: Settings, store: Store, central: CentralSystem, world: World,
                 clock: Callable[[], datetime]) -> None:  # fmt: skip
        self.settings = settings
        self.store = store
        self.central = central
        self.world = world
        self.clock = clock
        self.party = (settings.billing.country_code, settings.billing.party_id)
        self.places = {p.site_id: p for p in settings.ocpi.places}

    def place(self, site_id: str) -> Place:
        """The site's place from [ocpi] places; a site not listed there is named, without an address."""
        configured = self.places.get(site_id)
        site = self.world.sites.get(site_id, {})
        if configured is None:
            return Place(name=str(site.get("name") or site_id), address="-", city="-", country="NLD",
                         latitude=0.0, longitude=0.0)  # fmt: skip
        return Place(configured.name or str(site.get("name") or site_id), configured.address, configured.city,
                     configured.country, configured.latitude, configured.longitude, configured.time_zone,
                     configured.postal_code)  # fmt: skip

    def voltage(self, site_id: str) -> float:
        return float(self.world.sites.get(site_id, {}).get("voltage_v") or 230.0)

    async def charger(self, charge_point_id: str, specs: dict[str, dict[str, Any]] | None = None,
                      connectors: dict[int, str] | None = None) -> ChargerFacts | None:  # fmt: skip
        if not self.central.knows(charge_point_id):
            return None
        state = self.central.state(charge_point_id)
        if state.site_id is None:
            return None
        spec = (specs if specs is not None else await self.store.charger_specs()).get(charge_point_id, {})
        return ChargerFacts(
            id=state.id,
            site_id=state.site_id,
            connected=state.connected,
            connectors=dict(state.connectors if connectors is None else connectors),
            phases=int(spec.get("phases") or state.phases or 3),
            max_current_a=float(spec.get("max_current_a") or 16.0),
            last_updated=state.last_seen or EPOCH,
        )

    async def tariff_ids(self, site_id: str) -> list[str]:
        cooperative = self.world.sites.get(site_id, {}).get("cooperative_id")
        return [
            row["id"]
            for row in await self.store.accounts.list_tariffs()
            if row["site_id"] in (None, site_id) and row["cooperative_id"] in (None, cooperative)
        ]

    async def locations(self) -> list[dict[str, Any]]:
        """Every site that has chargers, ordered by last_updated then id (stable pages)."""
        specs = await self.store.charger_specs()
        by_site: dict[str, list[ChargerFacts]] = {}
        for state in self.central.states():
            facts = await self.charger(state.id, specs)
            if facts is not None and facts.site_id in self.world.sites:
                by_site.setdefault(facts.site_id, []).append(facts)
        out = [
            location_object(
                site_id,
                self.place(site_id),
                chargers,
                party=self.party,
                tariff_ids=await self.tariff_ids(site_id),
                voltage_v=self.voltage(site_id),
                updated=EPOCH,
            )  # fmt: skip
            for site_id, chargers in sorted(by_site.items())
        ]
        return sorted(out, key=lambda loc: (loc["last_updated"], loc["id"]))

    async def tariffs(self) -> list[dict[str, Any]]:
        out = []
        for row in await self.store.accounts.list_tariffs():
            try:
                out.append(tariff_object({**row["tariff"], "id": row["id"]}, self.party, iso(EPOCH)))
            except TariffError:
                continue  # stored before a stricter check: not offered
        return sorted(out, key=lambda t: (t["last_updated"], t["id"]))

    async def partner_token(self, id_tag: str) -> tuple[str, Token] | None:
        found = await self.store.ocpi.token_by_uid(id_tag)
        return None if found is None else (found[0], parse_token(found[1]))

    def session_facts(self, record: TransactionRecord, token: Token, *, energy_wh: float | None = None,
                      auth_method: str = "WHITELIST", updated: datetime | None = None,
                      cost: dict[str, Any] | None = None) -> SessionFacts:  # fmt: skip
        site_id = self.central.state(record.charge_point_id).site_id if self.central.knows(record.charge_point_id) \
            else None  # fmt: skip
        return SessionFacts(
            session_id=str(record.api_id),
            charge_point_id=record.charge_point_id,
            connector_id=record.connector_id,
            site_id=site_id or "",
            token=token,
            start=record.start_ts,
            stop=record.stop_ts,
            energy_wh=record.energy_wh if energy_wh is None else energy_wh,
            currency=str(cost["currency"]) if cost else "EUR",
            last_updated=updated or record.stop_ts or record.start_ts,
            auth_method=auth_method,
            total_cost=(float(cost["excl_vat"]), float(cost["incl_vat"])) if cost else None,
        )

    async def cdr_place(self, cdr: dict[str, Any]) -> dict[str, Any]:
        location = cdr.get("cdr_location", {})
        site_id = str(location.get("id") or "")
        charger = await self.charger(str(location.get("evse_uid") or ""))
        return cdr_location(site_id, self.place(site_id), str(location.get("evse_uid") or ""),
                            int(location.get("connector_id") or 1), self.voltage(site_id),
                            charger.phases if charger else 3)  # fmt: skip
