"""The Xero sandbox: Xero's identity service, ``/connections`` and Accounting API over a
generated world (see :mod:`finpipe.sandbox.xero.app`)."""
