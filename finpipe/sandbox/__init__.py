"""The sandbox: a faithful local stand-in for the provider APIs, fed by generated worlds.

:mod:`finpipe.sandbox.world` generates the companies, their books and bank statements and
the ground truth beside them. Plain Python: nothing here imports Dagster.
"""
