"""The QuickBooks Online sandbox: QBO's API over a generated world (see :mod:`.app`)."""

from finpipe.sandbox.quickbooks.app import QuickBooksSandbox, build

__all__ = ["QuickBooksSandbox", "build"]
