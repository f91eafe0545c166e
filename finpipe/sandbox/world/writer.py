"""Writing and reading world folders: one Parquet file per declared table plus
``manifest.json``, written deterministically and swapped in atomically."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from finpipe.sandbox.world.spec import GENERATOR_VERSION, WorldError, WorldSpec
from finpipe.warehouse.schema import Table
from finpipe.warehouse.tables.world import TABLES

MANIFEST = "manifest.json"
GENERATOR = "finpipe.sandbox.world"
# Fixed writer settings: the same frames always give the same bytes.
PARQUET_OPTIONS = {
    "compression": "zstd",
    "compression_level": 3,
    "statistics": True,
    "row_group_size": 512 * 1024,
}


def short_name(table: Table) -> str:
    """``world_documents`` -> ``documents`` (the file and ``World.table`` name)."""
    return table.name.removeprefix("world_")


TABLE_BY_SHORT = {short_name(t): t for t in TABLES}


@dataclass(frozen=True)
class WorldManifest:
    """What a world folder holds: the spec it came from, row counts and file hashes."""

    spec: WorldSpec
    generator_version: str
    row_counts: dict[str, int]
    sha256: dict[str, str]
    files: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        return {
            "generator": GENERATOR,
            "generator_version": self.generator_version,
            "spec": self.spec.to_json(),
            "row_counts": dict(sorted(self.row_counts.items())),
            "sha256": dict(sorted(self.sha256.items())),
            "files": dict(sorted(self.files.items())),
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> WorldManifest:
        return cls(
            spec=WorldSpec.from_json(data["spec"]),  # type: ignore[arg-type]
            generator_version=str(data["generator_version"]),
            row_counts={k: int(v) for k, v in data["row_counts"].items()},  # type: ignore[union-attr]
            sha256=dict(data["sha256"]),  # type: ignore[arg-type]
            files=dict(data.get("files", {})),  # type: ignore[arg-type]
        )


class World:
    """A generated world on disk; tables are scanned lazily."""

    def __init__(self, root: Path, manifest: WorldManifest) -> None:
        self.root = root
        self.manifest = manifest

    def path(self, name: str) -> Path:
        short = name.removeprefix("world_")
        if short not in TABLE_BY_SHORT:
            known = ", ".join(sorted(TABLE_BY_SHORT))
            raise WorldError(f"world has no table {name!r}; tables: {known}")
        return self.root / f"{short}.parquet"

    def table(self, name: str) -> pl.LazyFrame:
        """The table ``name`` (``documents`` or ``world_documents``) as a lazy scan."""
        return pl.scan_parquet(self.path(name))

    def declaration(self, name: str) -> Table:
        return TABLE_BY_SHORT[name.removeprefix("world_")]

    @property
    def table_names(self) -> list[str]:
        return [short_name(t) for t in TABLES]


def conform(table: Table, frame: pl.DataFrame) -> pl.DataFrame:
    """Exactly the declared columns, in order, with the declared dtypes; raises if a
    required column holds nulls (a generator bug, named precisely)."""
    missing = [c for c in table.column_names if c not in frame.columns]
    if missing:
        raise WorldError(f"{table.name}: generator produced no column(s) {missing}")
    schema = table.polars_schema()
    out = frame.select([pl.col(name).cast(dtype, strict=True) for name, dtype in schema.items()])
    required = [c.name for c in table.columns if not c.nullable]
    nulls = out.select(pl.col(required).null_count()).row(0)
    bad = [name for name, count in zip(required, nulls, strict=True) if count]
    if bad:
        raise WorldError(f"{table.name}: required column(s) {bad} contain nulls")
    return out


def check_out_dir(out_dir: Path) -> None:
    """Refuse to overwrite anything that is not a world."""
    if out_dir.exists() and not out_dir.is_dir():
        raise WorldError(f"{out_dir} exists and is not a folder; choose another --out")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not (out_dir / MANIFEST).is_file():
        raise WorldError(
            f"{out_dir} is not empty and holds no {MANIFEST}: refusing to replace a folder that "
            "is not a generated world; choose an empty or new folder"
        )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_world(
    spec: WorldSpec,
    out_dir: Path,
    frames: dict[str, pl.DataFrame],
    progress: Callable[[str, int, int], None] | None = None,
    step: tuple[int, int] = (0, 0),
) -> WorldManifest:
    """Write every table into a temporary sibling folder, then swap it in for ``out_dir``."""
    out_dir = Path(out_dir)
    check_out_dir(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    try:
        counts: dict[str, int] = {}
        hashes: dict[str, str] = {}
        files: dict[str, str] = {}
        for table in TABLES:
            name = short_name(table)
            frame = frames[name]
            path = tmp / f"{name}.parquet"
            frame.write_parquet(path, **PARQUET_OPTIONS)
            counts[name] = frame.height
            hashes[name] = _sha256(path)
            files[name] = path.name
            if progress:
                progress(f"writing {name}", step[0], step[1])
        manifest = WorldManifest(spec, GENERATOR_VERSION, counts, hashes, files)
        (tmp / MANIFEST).write_text(json.dumps(manifest.to_json(), indent=2) + "\n")
        _swap(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return manifest


def _swap(new: Path, out_dir: Path) -> None:
    """Put ``new`` in place of ``out_dir``: readers see the old world or the new one."""
    if not out_dir.exists():
        os.replace(new, out_dir)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old-", dir=out_dir.parent))
    os.rmdir(old)
    os.replace(out_dir, old)
    try:
        os.replace(new, out_dir)
    except BaseException:
        os.replace(old, out_dir)
        raise
    shutil.rmtree(old, ignore_errors=True)


def load_world(out_dir: Path) -> World:
    """Open a generated world folder (checks the manifest and that every file exists)."""
    root = Path(out_dir)
    manifest_path = root / MANIFEST
    if not root.is_dir():
        raise WorldError(f"{root} is not a folder; generate one with `finpipe world generate`")
    if not manifest_path.is_file():
        raise WorldError(f"{root} holds no {MANIFEST}: it is not a generated world")
    try:
        manifest = WorldManifest.from_json(json.loads(manifest_path.read_text()))
    except (ValueError, KeyError, TypeError) as exc:
        raise WorldError(f"{manifest_path} is not a valid world manifest: {exc}") from None
    for table in TABLES:
        path = root / f"{short_name(table)}.parquet"
        if not path.is_file():
            raise WorldError(
                f"{root}: missing file {path.name} (table {table.qualified_name}); "
                "regenerate the world"
            )
    return World(root, manifest)
