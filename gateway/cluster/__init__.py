"""Several CoopGrid instances on one broker and one database.

- **Calls across instances**: every instance publishes which charger it holds
  (the retained `chargers/{id}/status` carries `instance`); a command for a
  charger held elsewhere travels as a request on `instances/{owner}/rpc` with a
  correlation id and comes back on `instances/{me}/reply`, with a timeout.
- **Events across instances**: charge-point events are mirrored on
  `events/chargepoints` so that the scheduler, wherever it runs, sees every
  session and meter sample of the cooperative.
- **Solar telemetry parsed once** (`mqtt.share_group`): the raw topics are
  subscribed as `$share/{group}/...`, so the broker hands each message to one
  instance; that one parses and checks it and passes the reading (or the
  rejection, raw payload included) on `cluster/solar/readings`, which every
  instance applies: live power, liveness and the energy intervals stay whole
  everywhere, while the parsing is spread.
- **One scheduler**: the cooperative-wide scheduler (it pools green power
  across sites) runs where a PostgreSQL advisory lock is held; when that
  instance dies, its database session ends and another takes over within a
  couple of seconds. With SQLite there is one instance, always the leader.
"""

from gateway.cluster.events import decode_event, encode_event
from gateway.cluster.leadership import hold_leadership
from gateway.cluster.rpc import Cluster
from gateway.cluster.shared_ingest import SharedIngest, decode_parsed, encode_parsed

__all__ = [
    "Cluster",
    "SharedIngest",
    "decode_event",
    "decode_parsed",
    "encode_event",
    "encode_parsed",
    "hold_leadership",
]
