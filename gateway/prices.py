"""Day-ahead prices for the planner: ENTSO-E and Nord Pool through their maintained clients, and the price
feed over MQTT (the price file's rows as a message) as the offline fallback beside the file.

- **ENTSO-E**: entsoe-py's `EntsoePandasClient.query_day_ahead_prices`. The client sends every request to
  its module's URL constant (`entsoe.entsoe.URL`, read from `ENTSOE_ENDPOINT_URL` at import); the
  `session` it takes is its documented way in, so a session that rebases that URL onto
  `planner.entsoe_url` points it elsewhere (a test double on 127.0.0.1 in the tests).
- **Nord Pool**: nordpool's `elspot.Prices` (the Data Portal API); its base URL is the `API_URL` attribute,
  set per instance to `planner.nordpool_url`.

Both clients block (requests): they are called in a thread. Prices arrive in EUR/MWh per interval; they
are kept as EUR/kWh rows (each holding until the next). A fetch that fails keeps the prices fetched before
and is logged; where no day-ahead price is known, the planner reads the file (or its MQTT feed), then the
flat price (gateway.planning_feeds).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from gateway.planner_settings import PlannerSettings
from smartgrid.series import Row, SeriesError, StepSeries, parse_series

log = logging.getLogger(__name__)

DAY = timedelta(days=1)


class PriceFetchError(Exception):
    """A day-ahead source that gave nothing usable; the message names the source."""


def _rebased(official: str, base: str) -> Any:
    """A requests session sending what the client addresses to `official` to `base` instead (requests is
    imported here: it, like the clients, loads only when a day-ahead source is used)."""
    import requests  # noqa: PLC0415

    class Rebased(requests.Session):
        def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
            text = url.decode() if isinstance(url, bytes) else url
            if text.startswith(official.rstrip("/")):
                text = base.rstrip("/") + text[len(official.rstrip("/")) :]
            verb = method.decode() if isinstance(method, bytes) else method
            return super().request(verb, text, *args, **kwargs)

    return Rebased()


def _rows(points: Mapping[datetime, float], source: str) -> list[Row]:
    rows: list[Row] = []
    for ts, eur_per_mwh in sorted(points.items()):
        value = float(eur_per_mwh)
        if not math.isfinite(value):
            raise PriceFetchError(f"{source}: a price that is not a number at {ts.isoformat()}")
        rows.append((ts.astimezone(UTC), (value / 1000.0,)))
    if not rows:
        raise PriceFetchError(f"{source}: no prices")
    return rows


def fetch_entsoe(url: str, token: str, area: str, start: datetime, end: datetime) -> list[Row]:
    """Spot prices (EUR/kWh) from start to end, through entsoe-py."""
    import entsoe.entsoe as entsoe_module  # noqa: PLC0415 - pandas and bs4 load only when ENTSO-E is used
    import pandas as pd  # noqa: PLC0415

    session = _rebased(entsoe_module.URL, url)
    client = entsoe_module.EntsoePandasClient(api_key=token, session=session, timeout=30)
    try:
        series = client.query_day_ahead_prices(area, start=pd.Timestamp(start), end=pd.Timestamp(end))
    except Exception as exc:  # the client's own errors, HTTP errors, XML it cannot read
        raise PriceFetchError(f"ENTSO-E ({area}): {type(exc).__name__}: {exc}") from exc
    finally:
        session.close()
    return _rows({ts.to_pydatetime(): value for ts, value in series.items()}, f"ENTSO-E ({area})")


def fetch_nordpool(url: str, area: str, day: date) -> list[Row]:
    """One delivery day's spot prices (EUR/kWh, 15-minute resolution), through nordpool."""
    from nordpool import elspot  # noqa: PLC0415

    client = elspot.Prices(currency="EUR", timeout=30)
    client.API_URL = url.rstrip("/")
    try:
        data = client.fetch(data_type=client.HOURLY, end_date=day, areas=[area], resolution=15)
    except Exception as exc:
        raise PriceFetchError(f"Nord Pool ({area}): {type(exc).__name__}: {exc}") from exc
    if not data or area not in data.get("areas", {}):
        raise PriceFetchError(f"Nord Pool ({area}): no prices for {day.isoformat()}")
    values = data["areas"][area]["values"]
    return _rows({v["start"]: v["value"] for v in values if v.get("value") is not None}, f"Nord Pool ({area})")


class DayAheadPrices:
    """The newest day-ahead spot prices (today's and tomorrow's), fetched every `day_ahead_refresh_s`."""

    def __init__(self, settings: PlannerSettings, clock: Callable[[], datetime]) -> None:
        self.settings = settings
        self.clock = clock
        self.series: StepSeries | None = None
        self.fetched = 0
        self.failures = 0
        self.last_error: str | None = None

    def _fetch(self, now: datetime) -> list[Row]:
        st, area = self.settings, self.settings.day_ahead_area or ""
        today = now.astimezone(UTC).date()
        if st.day_ahead == "entsoe":
            start = datetime.combine(today, datetime.min.time(), tzinfo=UTC)
            return fetch_entsoe(st.entsoe_url, st.entsoe_token or "", area, start, start + 2 * DAY)
        rows: list[Row] = []
        for day in (today, today + DAY):
            try:
                rows += fetch_nordpool(st.nordpool_url, area, day)
            except PriceFetchError:
                if day == today:
                    raise
                # tomorrow's prices are published around noon: until then, today's
        return rows

    async def refresh(self) -> bool:
        try:
            rows = await asyncio.to_thread(self._fetch, self.clock())
        except PriceFetchError as exc:
            self.failures += 1
            self.last_error = str(exc)
            log.warning("day-ahead prices not fetched (%s); the last ones, the file or the flat price stand", exc)
            return False
        merged = dict(rows)  # a later day's row wins at a shared instant
        self.series = StepSeries(sorted(merged.items()), outside=None)
        self.fetched += 1
        self.last_error = None
        return True

    async def run(self) -> None:
        while True:
            await self.refresh()
            await asyncio.sleep(self.settings.day_ahead_refresh_s if self.last_error is None else 300.0)


class PriceMessages:
    """The price file's rows (`timestamp,import_eur_per_kwh,export_eur_per_kwh`) as an MQTT message: the
    newest good one replaces the rows planned on; a bad one is counted and kept aside, the rows stand."""

    def __init__(self, topic: str) -> None:
        self.topic = topic
        self.series: StepSeries | None = None
        self.accepted = 0
        self.rejects = 0
        self.last_rejected: tuple[str, bytes] | None = None  # (reason, payload)

    async def handle(self, topic: str, payload: bytes) -> None:
        try:
            text = payload.decode("utf-8")
            rows = parse_series(text, f"MQTT {topic}", 2)
        except (UnicodeDecodeError, SeriesError) as exc:
            self.rejects += 1
            self.last_rejected = (str(exc), payload[:4096])
            if self.rejects == 1:
                log.warning("price feed: refused a message on %s (%s); further ones are only counted", topic, exc)
            return
        self.series = StepSeries(rows, outside=(0.0, 0.0))
        self.accepted += 1
