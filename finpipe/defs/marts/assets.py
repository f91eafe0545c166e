"""The dbt marts (``dbt/``) as Dagster assets, downstream of the tables they read."""

import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets

from finpipe.config import load_settings
from finpipe.marts import DBT_PROJECT_DIR, dbt_env

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
# Under `dagster dev` the manifest is re-parsed on load; elsewhere `make` builds it.
dbt_project.prepare_if_dev()


class FinpipeDbtTranslator(DagsterDbtTranslator):
    """dbt models become ``<schema>/<model>`` assets in the ``marts`` group."""

    def get_asset_spec(
        self, manifest: Mapping[str, Any], unique_id: str, project: Any
    ) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        node = manifest["nodes"].get(unique_id) or manifest["sources"].get(unique_id) or {}
        if node.get("resource_type") != "model":
            return spec
        schema = node.get("config", {}).get("schema") or "marts"
        return spec.replace_attributes(key=dg.AssetKey([schema, node["name"]]), group_name="marts")


@contextmanager
def _environ(values: Mapping[str, str]) -> Iterator[None]:
    before = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=FinpipeDbtTranslator(),
)
def finpipe_marts(context: dg.AssetExecutionContext, dbt: DbtCliResource):
    """``dbt build`` of the selected models (and their tests) against finpipe's warehouse."""
    with _environ(dbt_env(load_settings())):
        yield from dbt.cli(["build"], context=context).stream()


def _dbt_executable() -> str:
    # The dbt installed beside this interpreter (the project's .venv), even when the venv's
    # bin folder is not on PATH (e.g. `.venv/bin/finpipe demo`).
    for folder in (Path(sys.executable).parent, Path(sys.prefix) / "bin"):
        if (folder / "dbt").exists():
            return str(folder / "dbt")
    return "dbt"


@dg.definitions
def defs() -> dg.Definitions:
    # A module with a @definitions function contributes only what that function returns.
    return dg.Definitions(
        assets=[finpipe_marts],
        resources={
            "dbt": DbtCliResource(project_dir=dbt_project, dbt_executable=_dbt_executable())
        },
    )
