"""Dataset manifests (`datasets/*.yaml`), validated with pydantic against the taxonomy (cv.config).

A manifest says where a source lives under the data root, its licence and credit, how its class
ids map onto `configs/taxonomy.yaml`, and which taxonomy classes it labels completely (the others
are filled by the teacher, or stay unlabelled: see training/teacher.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cv.config import Taxonomy, load_taxonomy

REPO = Path(__file__).resolve().parent.parent
MANIFEST_DIR = REPO / "datasets"
DEFAULT_DATA_ROOT = REPO.parent / "shared" / "datasets"


class ManifestError(ValueError):
    """A manifest is invalid: the message names the file, the key and why."""


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9_]+$")
    path: str = Field(min_length=1, description="folder relative to the data root, YOLO layout")
    format: Literal["boxes", "polygons"]
    licence: str = Field(min_length=1)
    credit: str = Field(min_length=1)
    url: str = ""
    classes: dict[int, str] = Field(min_length=1, description="source class id -> taxonomy class name")
    complete: list[str] = Field(default_factory=list)
    negatives: list[str] = Field(default_factory=list)
    roles: list[str] = Field(default_factory=list)

    def check_against(self, taxonomy: Taxonomy) -> None:
        names = set(taxonomy.names)
        for key, values in (("classes", self.classes.values()), ("complete", self.complete),
                            ("negatives", self.negatives)):
            unknown = sorted(set(values) - names)
            if unknown:
                raise ValueError(f"{key}: {unknown} not in the taxonomy {taxonomy.names}")
        not_mapped = sorted(set(self.complete) - set(self.classes.values()))
        if not_mapped:
            raise ValueError(f"complete: {not_mapped} are not produced by the class mapping")

    def folder(self, data_root: str | Path) -> Path:
        return Path(data_root) / self.path


def load_manifest(path: str | Path, taxonomy: Taxonomy | None = None) -> Manifest:
    path = Path(path)
    taxonomy = taxonomy or load_taxonomy()
    try:
        manifest = Manifest.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
        manifest.check_against(taxonomy)
    except ValidationError as exc:
        where = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ManifestError(f"{path}: {where}") from exc
    except (OSError, yaml.YAMLError, ValueError) as exc:
        raise ManifestError(f"{path}: {exc}") from exc
    if manifest.name != path.stem:
        raise ManifestError(f"{path}: name: {manifest.name!r} must match the file name {path.stem!r}")
    return manifest


def load_manifests(folder: str | Path = MANIFEST_DIR, taxonomy: Taxonomy | None = None) -> list[Manifest]:
    taxonomy = taxonomy or load_taxonomy()
    files = sorted(Path(folder).glob("*.yaml"))
    if not files:
        raise ManifestError(f"{folder}: no dataset manifests (*.yaml)")
    return [load_manifest(f, taxonomy) for f in files]
