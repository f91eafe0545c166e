"""The connectors' exception family. Messages name the provider, tenant and record and say
what to do; they never contain a token, a secret or a full authorization header."""

from __future__ import annotations

from finpipe.errors import FinpipeError


class ConnectorError(FinpipeError):
    """A provider call or a sync failed."""


class SyncAborted(ConnectorError):
    """A sync stopped part-way after committing what it had (a crash stand-in, or a test
    hook): the next attempt resumes from the committed cursor, so retrying is safe."""


class ProviderError(ConnectorError):
    """The provider answered with an error that retrying will not fix (a 4xx other than 429).

    ``provider_message`` is the provider's own error text (QBO ``Fault.Error[].Detail``, Xero
    ``Message``/``ValidationErrors``), kept verbatim so an operator can act on it.
    """

    def __init__(self, provider: str, status: int, provider_message: str, url: str) -> None:
        self.provider = provider
        self.status = status
        self.provider_message = provider_message
        self.url = url
        super().__init__(f"{provider} answered {status} for {url}: {provider_message}")


class ProviderUnavailable(ConnectorError):
    """5xx answers or timeouts persisted through every retry."""


class NeedsReauth(ConnectorError):
    """The refresh token was refused (``invalid_grant``): a person must reconnect."""


class StaleVersion(ConnectorError):
    """A write carried an out-of-date version (QBO SyncToken, Xero UpdatedDateUTC)."""

    def __init__(self, provider: str, entity: str, source_id: str, detail: str) -> None:
        self.provider = provider
        self.entity = entity
        self.source_id = source_id
        super().__init__(
            f"{provider} {entity} {source_id} was changed by someone else ({detail}); "
            "re-read it and apply the change again"
        )
