"""Data-quality rules shared by asset checks (no Dagster). Great Expectations is imported
lazily, inside the functions that use it: importing it takes seconds."""
