"""The sandbox world generator: realistic small-business companies, their books (in
QuickBooks or Xero style) and bank statements, with the ground truth beside them.

    from finpipe.sandbox.world import WorldSpec, generate_world, load_world

    manifest = generate_world(WorldSpec(companies=12, months=24, seed=42), Path("world"))
    world = load_world(Path("world"))
    world.table("bank_lines").filter(...).collect()

Deterministic (same spec, same bytes), vectorised (NumPy / Polars, no loop per document or
bank line) and plain Python: nothing here imports Dagster. Output tables are declared in
:mod:`finpipe.warehouse.tables.world`.
"""

from finpipe.sandbox.world.generate import build_frames, generate_world
from finpipe.sandbox.world.spec import GENERATOR_VERSION, WorldError, WorldSpec
from finpipe.sandbox.world.writer import World, WorldManifest, load_world

__all__ = [
    "GENERATOR_VERSION",
    "World",
    "WorldError",
    "WorldManifest",
    "WorldSpec",
    "build_frames",
    "generate_world",
    "load_world",
]
