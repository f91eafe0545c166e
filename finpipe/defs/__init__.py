"""The Dagster layer: thin wiring of the domain packages into assets, checks, sensors and
jobs. ``finpipe.definitions`` loads every module below with ``load_from_defs_folder``;
no business rule lives here."""
