"""Simulated PV parks: AC power from pvlib and the real weather files that ship inside pvlib.

The weather is a typical meteorological year (TMY3) bundled with pvlib:
Greensboro NC by default. For each hour, plane-of-array irradiance comes from
pvlib's transposition model, cell temperature from the SAPM model, DC power
from PVWatts and AC power from the PVWatts inverter, scaled to the inverter's
rating. Alternatively a module and an inverter are chosen by name from the
CEC databases bundled with pvlib (`module=`, `inverter_model=`): pvlib's
ModelChain then computes the AC power of that inverter with a string of that
module sized to a DC/AC ratio of 1.2 (CEC single-diode DC model, Sandia
inverter model). Between the hourly records the power is interpolated
linearly, so a compressed simulated day is smooth. Cloud transients, outages
(the MQTT connection breaks, the broker publishes the last will `offline`) and
lifetime counter resets are optional.

Each inverter publishes over MQTT (aiomqtt) on
`{prefix}/solar/{park}/{inverter}/telemetry` in the native CoopGrid JSON, or in
a third-party layout (OpenDTU, Tasmota) under a base topic of its own,
`{park}-{inverter}` (`SimulatedPark.base_topic`), so that parks never share
topics. Each says it is online (retained) when it connects, has its offline
state as its last will, and publishes that offline state (retained) when it is
stopped normally, so no stale `online` stays on the broker: native
`.../state` online/offline, OpenDTU `solar/<base>/status/reachable` 1/0,
Tasmota `tele/<base>/LWT` Online/Offline.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import socket
import warnings
from datetime import UTC, datetime, timedelta
from functools import cache

import aiomqtt
import numpy as np
import pandas as pd
import pvlib

from simulators.clock import SimClock
from simulators.tasks import honour_cancellation

log = logging.getLogger(__name__)

WEATHER_FILES = {
    "greensboro": "723170TYA.CSV",  # Greensboro NC, TMY3
    "sand-point": "703165TY.csv",  # Sand Point AK, TMY3
}
DC_AC_RATIO = 1.2
TILT_DEG = 30.0
AZIMUTH_DEG = 180.0
TMY_YEAR = 1990
LAYOUTS = ("native", "opendtu", "tasmota")


@cache
def _weather(location: str) -> tuple[pd.DataFrame, dict[str, float]]:
    if location not in WEATHER_FILES:
        raise ValueError(f"unknown location {location!r}; bundled weather: {sorted(WEATHER_FILES)}")
    path = os.path.join(os.path.dirname(pvlib.__file__), "data", WEATHER_FILES[location])
    weather, meta = pvlib.iotools.read_tmy3(path, coerce_year=TMY_YEAR, map_variables=True)
    return weather.tz_convert("UTC"), meta


@cache
def _cec(database: str, name: str) -> pd.Series:
    """One entry of a CEC database bundled with pvlib ("CECInverter", "CECMod"); a clear error with close names."""
    table = pvlib.pvsystem.retrieve_sam(database)
    if name not in table.columns:
        close = [c for c in table.columns if name.lower()[:12] in c.lower()][:5]
        raise ValueError(f"{name!r} is not in pvlib's {database} database; close: {close}")
    return table[name]


def cec_inverter(name: str) -> pd.Series:
    return _cec("CECInverter", name)


def cec_module(name: str) -> pd.Series:
    return _cec("CECMod", name)


@cache
def _hourly_ac_per_watt_modelchain(location: str, module: str, inverter: str) -> pd.Series:
    """As `_hourly_ac_per_watt`, for a CEC inverter fed by a string of CEC modules, through pvlib's ModelChain."""
    weather, meta = _weather(location)
    module_params, inverter_params = cec_module(module), cec_inverter(inverter)
    module_w = float(module_params["I_mp_ref"] * module_params["V_mp_ref"])
    per_string = max(1, int(0.8 * float(inverter_params["Vdcmax"]) // float(module_params["V_oc_ref"])))
    strings = max(1, round(DC_AC_RATIO * float(inverter_params["Paco"]) / (module_w * per_string)))
    system = pvlib.pvsystem.PVSystem(
        surface_tilt=TILT_DEG,
        surface_azimuth=AZIMUTH_DEG,
        module_parameters=module_params,
        inverter_parameters=inverter_params,
        temperature_model_parameters=pvlib.temperature.TEMPERATURE_MODEL_PARAMETERS["sapm"]["open_rack_glass_glass"],
        modules_per_string=per_string,
        strings_per_inverter=strings,
    )
    site = pvlib.location.Location(meta["latitude"], meta["longitude"], altitude=meta["altitude"])
    chain = pvlib.modelchain.ModelChain(system, site, aoi_model="physical", spectral_model="no_loss")
    frame = weather[["ghi", "dni", "dhi", "temp_air", "wind_speed"]].copy()
    frame.index = weather.index - pd.Timedelta(minutes=30)  # hourly averages ending at the stamp
    with warnings.catch_warnings():  # night hours: the single-diode solver divides 0 by 0 and says so
        warnings.simplefilter("ignore", RuntimeWarning)
        chain.run_model(frame)
    ac = np.nan_to_num(np.asarray(chain.results.ac, dtype=float)) / float(inverter_params["Paco"])
    return pd.Series(np.clip(ac, 0.0, 1.0), index=frame.index).sort_index()


@cache
def _hourly_ac_per_watt(location: str = "greensboro") -> pd.Series:
    """AC output per watt of inverter rating, hourly for the whole TMY year (index in UTC)."""
    weather, meta = _weather(location)
    # TMY values are hourly averages ending at the timestamp: evaluate the sun at mid-hour.
    times = weather.index - pd.Timedelta(minutes=30)
    site = pvlib.location.Location(meta["latitude"], meta["longitude"], altitude=meta["altitude"])
    sun = site.get_solarposition(times)
    poa = pvlib.irradiance.get_total_irradiance(
        TILT_DEG,
        AZIMUTH_DEG,
        sun["apparent_zenith"].to_numpy(),
        sun["azimuth"].to_numpy(),
        dni=weather["dni"].to_numpy(),
        ghi=weather["ghi"].to_numpy(),
        dhi=weather["dhi"].to_numpy(),
    )
    poa_global = np.nan_to_num(np.asarray(poa["poa_global"], dtype=float))
    params = pvlib.temperature.TEMPERATURE_MODEL_PARAMETERS["sapm"]["open_rack_glass_glass"]
    cell_c = pvlib.temperature.sapm_cell(
        poa_global, weather["temp_air"].to_numpy(), weather["wind_speed"].to_numpy(), **params
    )
    dc = pvlib.pvsystem.pvwatts_dc(poa_global, cell_c, pdc0=DC_AC_RATIO, gamma_pdc=-0.004)
    ac = pvlib.inverter.pvwatts(dc, pdc0=1.0 / 0.96, eta_inv_nom=0.96)
    series = pd.Series(np.clip(np.nan_to_num(np.asarray(ac, dtype=float)), 0.0, 1.0), index=times.tz_convert("UTC"))
    return series.sort_index()


def sunrise(day: datetime, location: str = "greensboro") -> datetime:
    """When the sun rises at the weather file's place on `day` (UTC), from pvlib's solar position (SPA)."""
    _, meta = _weather(location)
    midday = pd.DatetimeIndex([pd.Timestamp(day.date().isoformat(), tz="UTC") + pd.Timedelta(hours=12)])
    # the local day: noon at the place's longitude (the SPA answers for the day of the given instant there)
    local_noon = midday - pd.Timedelta(hours=float(meta["longitude"]) / 15.0)
    times = pvlib.solarposition.sun_rise_set_transit_spa(local_noon, meta["latitude"], meta["longitude"])
    rise = times["sunrise"].iloc[0]
    if pd.isna(rise):  # polar day or night: start at midnight UTC
        return datetime.combine(day.date(), datetime.min.time(), tzinfo=UTC)
    return pd.Timestamp(rise).tz_convert("UTC").floor("s").to_pydatetime()


def _tmy_instant(ts: datetime) -> datetime:
    """Map any instant onto the TMY year (same month, day and time of day)."""
    ts = ts.astimezone(UTC)
    try:
        return ts.replace(year=TMY_YEAR)
    except ValueError:  # 29 February
        return ts.replace(year=TMY_YEAR, day=28)


def park_power_w(
    ts: datetime,
    rated_power_w: float,
    location: str = "greensboro",
    module: str | None = None,
    inverter_model: str | None = None,
) -> float:
    """AC power of one inverter of `rated_power_w` at instant `ts` (clear or cloudy, as the TMY says)."""
    if module and inverter_model:
        series = _hourly_ac_per_watt_modelchain(location, module, inverter_model)
    elif module or inverter_model:
        raise ValueError("choose both a module and an inverter from the CEC databases, or neither")
    else:
        series = _hourly_ac_per_watt(location)
    instant = pd.Timestamp(_tmy_instant(ts))
    position = series.index.searchsorted(instant)
    if position <= 0:
        fraction = float(series.iloc[0])
    elif position >= len(series):
        fraction = float(series.iloc[-1])
    else:
        before_ts, after_ts = series.index[position - 1], series.index[position]
        before, after = float(series.iloc[position - 1]), float(series.iloc[position])
        weight = (instant - before_ts) / (after_ts - before_ts)
        fraction = before + (after - before) * weight
    return max(0.0, fraction) * rated_power_w


class SimulatedPark:
    def __init__(
        self,
        park_id: str,
        inverter_ids: list[str],
        *,
        mqtt_host: str,
        mqtt_port: int,
        clock: SimClock,
        rated_power_w: float = 10_000.0,
        prefix: str = "coopgrid",
        publish_interval_s: float = 1.0,
        layout: str = "native",
        location: str = "greensboro",
        clouds: float = 0.0,
        seed: int | None = None,
        energy_start_wh: float = 1_000_000.0,
        module: str | None = None,
        inverter_model: str | None = None,
    ) -> None:
        if layout not in LAYOUTS:
            raise ValueError(f"unknown layout {layout!r}; one of {LAYOUTS}")
        self.module = module
        self.inverter_model = inverter_model
        if inverter_model:  # the CEC rating, unless the caller gave one explicitly
            rated_power_w = float(cec_inverter(inverter_model)["Paco"]) if rated_power_w <= 0 else rated_power_w
        self.park_id = park_id
        self.inverter_ids = list(inverter_ids)
        self.mqtt_host = mqtt_host
        self.mqtt_port = mqtt_port
        self.clock = clock
        self.rated_power_w = rated_power_w
        self.prefix = prefix
        self.publish_interval_s = publish_interval_s
        self.layout = layout
        self.location = location
        self.clouds = clouds
        self.random = random.Random(seed)
        self.energy_wh = {inv: energy_start_wh + 1000.0 * i for i, inv in enumerate(self.inverter_ids)}
        self.power = dict.fromkeys(self.inverter_ids, 0.0)
        self._cloud = 1.0
        self.published = 0  # telemetry messages sent
        self.produced_wh = 0.0  # generated since the start, all inverters
        self.online: set[str] = set()  # inverters connected to the broker now
        self._outage: dict[str, asyncio.Event] = {}
        park_power_w(clock.now(), 1.0, location, module, inverter_model)  # compute the year once, up front

    @property
    def power_w(self) -> float:
        return sum(self.power.values())

    def base_topic(self, inverter_id: str) -> str:
        """A third-party layout's base topic (`topic` in CoopGrid's inverter configuration): one per park
        and inverter, as each real device has its own serial (OpenDTU) or topic name (Tasmota)."""
        name = f"{self.park_id}-{inverter_id}"
        return f"solar/{name}" if self.layout == "opendtu" else name

    def _state(self, inverter_id: str) -> tuple[str, bytes, bytes]:
        """The liveness topic of the layout, with its online and offline payloads."""
        if self.layout == "opendtu":
            return f"{self.base_topic(inverter_id)}/status/reachable", b"1", b"0"
        if self.layout == "tasmota":
            return f"tele/{self.base_topic(inverter_id)}/LWT", b"Online", b"Offline"
        return f"{self.prefix}/solar/{self.park_id}/{inverter_id}/state", b"online", b"offline"

    def topics(self, inverter_id: str) -> list[str]:
        """Every topic this inverter publishes on."""
        state = self._state(inverter_id)[0]
        if self.layout == "opendtu":
            base = self.base_topic(inverter_id)
            return [f"{base}/0/power", f"{base}/0/yieldtotal", state]
        if self.layout == "tasmota":
            return [f"tele/{self.base_topic(inverter_id)}/SENSOR", state]
        return [f"{self.prefix}/solar/{self.park_id}/{inverter_id}/telemetry", state]

    async def run(self) -> None:
        """Publish every inverter until cancelled (one MQTT client each: each has its own last will)."""
        async with asyncio.TaskGroup() as group:
            for inverter_id in self.inverter_ids:
                group.create_task(self._inverter(inverter_id))

    async def _inverter(self, inverter_id: str) -> None:
        backoff = 0.5
        while True:
            try:
                state, online, offline = self._state(inverter_id)
                async with aiomqtt.Client(
                    self.mqtt_host,
                    self.mqtt_port,
                    identifier=f"sim-{self.park_id}-{inverter_id}-{os.getpid()}",
                    will=aiomqtt.Will(state, offline, qos=1, retain=True),
                    keepalive=10,
                ) as client:
                    backoff = 0.5
                    await client.publish(state, online, qos=1, retain=True)
                    self.online.add(inverter_id)
                    try:
                        honour_cancellation()
                        last = self.clock.elapsed_s()
                        while inverter_id not in self._outage:
                            await asyncio.sleep(self.publish_interval_s)
                            now_s = self.clock.elapsed_s()
                            await self._publish(client, inverter_id, now_s - last)
                            honour_cancellation()
                            last = now_s
                    except asyncio.CancelledError:  # a normal stop: say so, or the retained `online` stays
                        await _say_offline(client, state, offline)
                        raise
                    finally:
                        self.online.discard(inverter_id)
                    # An outage: the line goes without a DISCONNECT, so the broker publishes the last will.
                    sock = client._client.socket()  # noqa: SLF001 - paho's socket; aiomqtt has no unclean exit
                    if isinstance(sock, socket.socket):
                        sock.shutdown(socket.SHUT_RDWR)
                    raise aiomqtt.MqttError("outage")
            except aiomqtt.MqttError as exc:
                log.info("%s/%s: broker unavailable (%s); retrying", self.park_id, inverter_id, exc)
            honour_cancellation()
            outage = self._outage.get(inverter_id)
            if outage is not None:
                self.power[inverter_id] = 0.0
                await outage.wait()
                backoff = 0.0
            await asyncio.sleep(backoff)
            backoff = min(max(backoff, 0.25) * 2, 10.0)

    def outage(self, inverter_id: str) -> None:
        """The inverter loses power or network: it stops publishing and its last will (`offline`) fires."""
        self._outage.setdefault(inverter_id, asyncio.Event())

    def restore(self, inverter_id: str) -> None:
        """The inverter is back: it reconnects, publishes `online` and resumes telemetry."""
        event = self._outage.pop(inverter_id, None)
        if event is not None:
            event.set()

    async def _publish(self, client: aiomqtt.Client, inverter_id: str, dt_s: float) -> None:
        now = self.clock.now()
        if self.clouds > 0:  # a slow random walk of cloud cover
            self._cloud = min(1.0, max(1.0 - self.clouds, self._cloud + self.random.gauss(0, 0.05)))
        power = park_power_w(now, self.rated_power_w, self.location, self.module, self.inverter_model) * self._cloud
        self.power[inverter_id] = power
        self.energy_wh[inverter_id] += power * dt_s / 3600.0
        self.produced_wh += power * dt_s / 3600.0
        energy = self.energy_wh[inverter_id]
        if self.layout == "native":
            payload = {
                "ts": now.isoformat().replace("+00:00", "Z"),
                "ac_power_w": round(power, 1),
                "energy_wh": round(energy, 1),
                "dc_power_w": round(power / 0.96, 1),
                "ac_voltage_v": 230.0,
                "frequency_hz": 50.0,
                "temperature_c": 25.0 + power / self.rated_power_w * 20.0,
                "status": "MPPT" if power > 0 else "Sleeping",
            }
            await client.publish(
                f"{self.prefix}/solar/{self.park_id}/{inverter_id}/telemetry", json.dumps(payload), qos=1
            )
            self.published += 1
        elif self.layout == "opendtu":
            base = self.base_topic(inverter_id)
            await client.publish(f"{base}/0/power", f"{power:.1f}", qos=1)
            await client.publish(f"{base}/0/yieldtotal", f"{energy / 1000:.3f}", qos=1)
            self.published += 1
        else:  # tasmota
            sensor = {
                "Time": now.strftime("%Y-%m-%dT%H:%M:%S"),
                "ENERGY": {"Total": round(energy / 1000, 3), "Power": round(power)},
            }
            await client.publish(f"tele/{self.base_topic(inverter_id)}/SENSOR", json.dumps(sensor), qos=1)
            self.published += 1

    def reset_counter(self, inverter_id: str) -> None:
        """A lifetime counter that starts again from zero (seen after inverter firmware updates)."""
        self.energy_wh[inverter_id] = 0.0


async def _say_offline(client: aiomqtt.Client, topic: str, payload: bytes, within_s: float = 2.0) -> None:
    """Publish the retained offline state while the task is being cancelled (bounded: the broker may be gone)."""
    task = asyncio.current_task()
    pending = task.uncancel() if task is not None else 0  # let this one publication through
    try:
        await asyncio.wait_for(client.publish(topic, payload, qos=1, retain=True), within_s)
    except (aiomqtt.MqttError, TimeoutError):
        log.info("offline state not published on %s", topic)
    finally:
        if task is not None:
            for _ in range(pending):
                task.cancel()  # the cancellation goes on as it was asked for


def clear_sky_check(day: datetime, rated_power_w: float = 1000.0, location: str = "greensboro") -> float:
    """The day's energy (Wh) of one inverter: a quick sanity figure for scenarios."""
    start = day.replace(hour=0, minute=0, second=0, microsecond=0)
    return sum(park_power_w(start + timedelta(minutes=m), rated_power_w, location) for m in range(0, 1440, 10)) / 6.0


__all__ = ["SimulatedPark", "clear_sky_check", "park_power_w", "sunrise"]
