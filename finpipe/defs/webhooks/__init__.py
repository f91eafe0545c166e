"""The webhook inbox sensor: verified provider events become syncs of the raw landing
assets of the company and provider they concern."""
