"""The thresholds of connection health, as a resource an operator can configure."""

import dagster as dg

from finpipe.connections.health import Thresholds
from finpipe.connections.sync_log import DEFAULT_DEGRADE_AFTER


class ConnectionHealthResource(dg.ConfigurableResource):
    """When a connection needs attention.

    ``degrade_after``: consecutive failed syncs that mark an active connection degraded;
    ``token_warn_days``: warn this long before a refresh token goes stale;
    ``max_lag_hours``: warn when an active connection has not synced for longer.
    """

    degrade_after: int = DEFAULT_DEGRADE_AFTER
    token_warn_days: float = 14.0
    max_lag_hours: float = 36.0

    def thresholds(self) -> Thresholds:
        return Thresholds(token_warn_days=self.token_warn_days, max_lag_hours=self.max_lag_hours)


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(resources={"connection_health": ConnectionHealthResource()})
