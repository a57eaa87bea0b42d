"""Writes the planning scenarios of this folder (deterministic: pvlib's Greensboro TMY3 file, seeded EVs).

Run: .venv/bin/python benchmarks/scenarios/make.py   (the files are committed; rerun after changing this)
"""

from __future__ import annotations

import math
import random
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import tomli_w

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from simulators.inverter import park_power_w  # noqa: E402

STEP = 60
LAT, LON = 36.1, -79.9


def iso(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def write_csv(name: str, rows: Sequence[tuple[datetime, tuple[float, ...]]], header: str) -> None:
    lines = [header] + [
        ",".join([iso(ts), *(f"{v:.1f}" if abs(v) >= 1 else f"{v:.4f}" for v in vals)]) for ts, vals in rows
    ]
    (HERE / name).write_text("\n".join(lines) + "\n", encoding="utf-8")


def profile(
    day: datetime, start_h: int, hours: int, rated: float, shade: Any = None
) -> list[tuple[datetime, tuple[float]]]:
    start = day.replace(hour=start_h)
    out = []
    for i in range(hours * 3600 // STEP):
        ts = start + timedelta(seconds=STEP * i)
        power = park_power_w(ts + timedelta(seconds=STEP / 2), rated)
        if shade is not None:
            power *= shade(ts)
        out.append((ts, (power,)))
    return out


def hourly(rows: list[tuple[datetime, tuple[float]]], scale: float = 1.0) -> list[tuple[datetime, tuple[float]]]:
    out = []
    for k in range(0, len(rows), 3600 // STEP):
        chunk = rows[k : k + 3600 // STEP]
        out.append((chunk[0][0], (scale * sum(r[1][0] for r in chunk) / len(chunk),)))
    return out


def fleet(
    rng: random.Random, chargers: list[dict[str, Any]], start: datetime, hours: int, visitors: bool = True
) -> list[dict[str, Any]]:
    evs = []
    end = start + timedelta(hours=hours)
    for c in chargers:
        t = start + timedelta(minutes=rng.randint(90, 240) if rng.random() < 0.7 else rng.randint(240, 420))
        while t < end - timedelta(hours=1):
            commuter = t < start + timedelta(minutes=240)
            stay = timedelta(minutes=rng.randint(7 * 60, 9 * 60) if commuter else rng.randint(60, 180))
            leave = min(end, t + stay)
            possible = c["max_current_a"] * c["phases"] * 230 * (leave - t).total_seconds() / 3600
            need = min(rng.uniform(8_000, 35_000) if commuter else rng.uniform(3_000, 12_000), 0.9 * possible)
            mode = "departure" if rng.random() < 0.75 else rng.choice(["green", "green_min"])
            evs.append(
                {
                    "charger_id": c["id"],
                    "arrival": iso(t),
                    "departure": iso(leave),
                    "energy_wh": round(need),
                    "mode": mode,
                }
            )
            t = leave + timedelta(minutes=rng.randint(15, 120))
            if commuter or not visitors or rng.random() < 0.4:
                break
    return evs


def chargers_for(sites: dict[str, int], phases_every: int = 7) -> list[dict[str, Any]]:
    out = []
    for site, count in sites.items():
        for k in range(count):
            one = k % phases_every == phases_every - 1
            out.append(
                {"id": f"{site}-{k:02d}", "site_id": site, "max_current_a": 16, "phases": 1 if one else 3}
                | ({"phase": 1 + k % 3} if one else {})
            )
    return out


def scenario(name: str, data: dict[str, Any]) -> None:
    (HERE / f"{name}.toml").write_text(tomli_w.dumps({"name": name, **data}), encoding="utf-8")


def three_sites(
    name: str,
    day: datetime,
    seed: int,
    *,
    parks_w: dict[str, float],
    sizes: dict[str, int],
    limits: dict[str, tuple[float, float]],
    shade: Any = None,
    forecast: str | None = None,
) -> None:
    start = day.replace(hour=10)  # 05:00 in Greensboro
    rng = random.Random(seed)
    chargers = chargers_for(sizes)
    parks = []
    for k, (park, rated) in enumerate(parks_w.items()):
        rows = profile(day, 10, 16, rated, shade)
        write_csv(f"{name}-{park}.csv", rows, "timestamp,power_w")
        entry: dict[str, Any] = {
            "id": park,
            "member_id": f"m-{park}",
            "latitude": LAT,
            "longitude": LON,
            "rated_w": rated,
            "profile_csv": f"{name}-{park}.csv",
        }
        if forecast == "clear":  # the day-ahead forecast: the same day without the shade, hourly
            write_csv(f"{name}-{park}-dayahead.csv", hourly(profile(day, 10, 16, rated)), "timestamp,power_w")
            entry["forecast_csv"] = f"{name}-{park}-dayahead.csv"
        elif forecast is not None:  # another day's weather: a forecast that misses
            other = datetime.fromisoformat(forecast).replace(tzinfo=UTC)
            rows_other = [
                (day.replace(hour=10) + (ts - other.replace(hour=10)), v) for ts, v in profile(other, 10, 16, rated)
            ]
            write_csv(f"{name}-{park}-dayahead.csv", hourly(rows_other), "timestamp,power_w")
            entry["forecast_csv"] = f"{name}-{park}-dayahead.csv"
        parks.append(entry)
        del k
    sites = [{"id": s, "grid_limit_a": lim, "base_load_a": base} for s, (lim, base) in limits.items()]
    scenario(
        name,
        {
            "start": iso(start),
            "end": iso(start + timedelta(hours=16)),
            "step_s": STEP,
            "sites": sites,
            "parks": parks,
            "chargers": chargers,
            "evs": fleet(rng, chargers, start, 16),
        },
    )


def main() -> None:
    sunny, cloudy = datetime(1990, 5, 10, tzinfo=UTC), datetime(1990, 5, 13, tzinfo=UTC)
    standard = {
        "parks_w": {"p1": 60_000.0, "p2": 40_000.0, "p3": 30_000.0},
        "sizes": {"north": 16, "centre": 14, "south": 10},
        "limits": {"north": (125.0, 15.0), "centre": (100.0, 10.0), "south": (80.0, 8.0)},
    }
    three_sites("sunny", sunny, 1, **standard)  # type: ignore[arg-type]
    three_sites("cloudy", cloudy, 1, **standard)  # type: ignore[arg-type]

    def front(ts: datetime) -> float:  # a cloud front passing 11:30-14:00 local, minute-scale flicker
        minutes = (ts - ts.replace(hour=16, minute=30)).total_seconds() / 60
        if not 0 <= minutes <= 150:
            return 1.0
        return 0.15 + 0.25 * abs(math.sin(minutes / 3.7)) * (0.5 + 0.5 * math.cos(minutes / 11))

    three_sites("cloud-front", sunny, 2, shade=front, forecast="clear", **standard)  # type: ignore[arg-type]
    # parks that do not match their sites' chargers: the big park's site has few chargers, the small one many
    three_sites(
        "mismatched",
        sunny,
        3,
        parks_w={"p1": 90_000.0, "p2": 10_000.0, "p3": 30_000.0},
        sizes={"north": 4, "centre": 24, "south": 12},
        limits={"north": (63.0, 10.0), "centre": (125.0, 20.0), "south": (80.0, 8.0)},
    )
    three_sites("forecast-miss", sunny, 4, forecast="1990-05-13T00:00:00", **standard)  # type: ignore[arg-type]

    # a small 3 x 25 A site, three-phase cars, a park that rarely gives the 4.1 kW three phases need at 6 A
    start = sunny.replace(hour=10)
    rows = profile(sunny, 10, 16, 5_000.0)
    write_csv("small-site-park.csv", rows, "timestamp,power_w")
    chargers = [{"id": f"small-{k}", "site_id": "small", "max_current_a": 16, "phases": 3} for k in range(3)]
    evs = [
        {
            "charger_id": "small-0",
            "arrival": iso(start + timedelta(hours=2)),
            "departure": iso(start + timedelta(hours=11)),
            "energy_wh": 14_000,
            "mode": "departure",
        },
        {
            "charger_id": "small-1",
            "arrival": iso(start + timedelta(hours=3)),
            "departure": iso(start + timedelta(hours=12)),
            "energy_wh": 12_000,
            "mode": "departure",
        },
        {
            "charger_id": "small-2",
            "arrival": iso(start + timedelta(hours=4)),
            "departure": iso(start + timedelta(hours=10)),
            "energy_wh": 8_000,
            "mode": "green",
        },
    ]
    scenario(
        "small-site",
        {
            "start": iso(start),
            "end": iso(start + timedelta(hours=16)),
            "step_s": STEP,
            "sites": [{"id": "small", "grid_limit_a": 25.0, "base_load_a": 4.0}],
            "parks": [
                {
                    "id": "roof",
                    "member_id": "m-roof",
                    "latitude": LAT,
                    "longitude": LON,
                    "rated_w": 5_000.0,
                    "profile_csv": "small-site-park.csv",
                }
            ],
            "chargers": chargers,
            "evs": evs,
        },
    )

    # a battery evening: sun at midday with few cars, cars arrive in the evening
    rows = profile(sunny, 10, 16, 40_000.0)
    write_csv("battery-evening-park.csv", rows, "timestamp,power_w")
    chargers = [{"id": f"home-{k}", "site_id": "home", "max_current_a": 16, "phases": 3} for k in range(8)]
    rng = random.Random(5)
    evs = []
    for k in range(8):
        arrive = start + timedelta(hours=11, minutes=rng.randint(0, 120))  # 16:00-18:00 local
        evs.append(
            {
                "charger_id": f"home-{k}",
                "arrival": iso(arrive),
                "departure": iso(start + timedelta(hours=16)),
                "energy_wh": rng.randint(8_000, 20_000),
                "mode": "departure",
            }
        )
    scenario(
        "battery-evening",
        {
            "start": iso(start),
            "end": iso(start + timedelta(hours=16)),
            "step_s": STEP,
            "sites": [{"id": "home", "grid_limit_a": 80.0, "base_load_a": 6.0}],
            "parks": [
                {
                    "id": "roofs",
                    "member_id": "m-roofs",
                    "latitude": LAT,
                    "longitude": LON,
                    "rated_w": 40_000.0,
                    "profile_csv": "battery-evening-park.csv",
                }
            ],
            "chargers": chargers,
            "evs": evs,
            "batteries": [
                {
                    "id": "bat-home",
                    "site_id": "home",
                    "capacity_wh": 100_000,
                    "max_charge_w": 30_000,
                    "max_discharge_w": 30_000,
                    "round_trip_efficiency": 0.9,
                    "soc_start": 0.2,
                    "soc_min": 0.1,
                }
            ],
        },
    )

    # a price-spread day: an afternoon to the next morning, cars overnight, day-ahead prices with a wide spread
    start = sunny.replace(hour=17)  # 12:00 local
    rows = profile(sunny, 17, 20, 20_000.0)
    write_csv("price-day-park.csv", rows, "timestamp,power_w")
    prices = []
    for h in range(20):
        local = (12 + h) % 24
        price = 0.42 if 17 <= local < 21 else 0.08 if local < 6 else 0.22
        prices.append((start + timedelta(hours=h), (price, 0.05)))
    write_csv("price-day-prices.csv", prices, "timestamp,import_eur_per_kwh,export_eur_per_kwh")
    chargers = [{"id": f"depot-{k}", "site_id": "depot", "max_current_a": 16, "phases": 3} for k in range(10)]
    rng = random.Random(6)
    evs = []
    for k in range(10):
        arrive = start + timedelta(hours=rng.choice([1, 4, 5, 6]), minutes=rng.randint(0, 59))
        leave = start + timedelta(hours=19, minutes=rng.randint(0, 50))
        evs.append(
            {
                "charger_id": f"depot-{k}",
                "arrival": iso(arrive),
                "departure": iso(leave),
                "energy_wh": rng.randint(15_000, 40_000),
                "mode": "departure",
            }
        )
    scenario(
        "price-day",
        {
            "start": iso(start),
            "end": iso(start + timedelta(hours=20)),
            "step_s": STEP,
            "sites": [{"id": "depot", "grid_limit_a": 100.0, "base_load_a": 10.0}],
            "parks": [
                {
                    "id": "depot-roof",
                    "member_id": "m-depot",
                    "latitude": LAT,
                    "longitude": LON,
                    "rated_w": 20_000.0,
                    "profile_csv": "price-day-park.csv",
                }
            ],
            "chargers": chargers,
            "evs": evs,
            "batteries": [
                {
                    "id": "bat-depot",
                    "site_id": "depot",
                    "capacity_wh": 60_000,
                    "max_charge_w": 20_000,
                    "max_discharge_w": 20_000,
                    "round_trip_efficiency": 0.9,
                    "soc_start": 0.3,
                    "soc_min": 0.1,
                }
            ],
            "prices": {"csv": "price-day-prices.csv"},
        },
    )


if __name__ == "__main__":
    main()
