"""Loading YAML configs into pydantic models, failing with the file, the key path and why.

Shared by the camera config (`cv.zones`) and the rulebook (`cv.rulebook`). Loading reads a file;
everything after it (zones, rules, evaluation) is pure.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

REPO = Path(__file__).resolve().parent.parent
CONFIG_DIR = REPO / "configs"
TAXONOMY = CONFIG_DIR / "taxonomy.yaml"

Model = TypeVar("Model", bound=BaseModel)
KeyPath = tuple[str | int, ...]


class ConfigError(ValueError):
    """A config file is invalid. `problems` lists (key path, why); the message names the file too."""

    def __init__(self, file: str | Path, problems: Sequence[tuple[str, str]]):
        self.file = str(file)
        self.problems = list(problems)
        lines = [f"{self.file}: {path}: {why}" if path else f"{self.file}: {why}" for path, why in self.problems]
        super().__init__("\n".join(lines))


class KeyPathError(ValueError):
    """Raised inside a model validator to point at a key below the model being validated.

    pydantic only knows the location of the model whose validator failed; cross-checks (duplicate
    ids, references) know better, so they say where, and `format_key_path` appends it.
    """

    def __init__(self, path: KeyPath, why: str):
        self.path = path
        self.why = why
        super().__init__(why)


def format_key_path(path: KeyPath) -> str:
    """('cameras', 2, 'zones', 0, 'polygon') → 'cameras[2].zones[0].polygon'."""
    text = ""
    for part in path:
        if part == "[key]":  # pydantic's marker for a mapping key that failed validation
            text += " (the key)"
        else:
            text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _problems(error: ValidationError) -> list[tuple[str, str]]:
    problems = []
    for item in error.errors():
        location = tuple(item["loc"])
        cause = (item.get("ctx") or {}).get("error")
        if isinstance(cause, KeyPathError):
            problems.append((format_key_path(location + cause.path), cause.why))
            continue
        why = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            why = "unknown key (misspelt?)"
        problems.append((format_key_path(location), why))
    return problems


def read_yaml(path: str | Path) -> tuple[Any, str]:
    """The parsed document and its version: the sha256 of the file's bytes."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(path, [("", f"cannot read the file ({exc.strerror})")]) from exc
    try:
        document = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(path, [(where, f"not valid YAML ({getattr(exc, 'problem', None) or exc})")]) from exc
    return document, hashlib.sha256(raw).hexdigest()


def load_model(path: str | Path, model: type[Model], context: dict[str, Any] | None = None) -> tuple[Model, str]:
    """Validate a YAML file into `model`; return it with the file's version (content hash)."""
    document, version = read_yaml(path)
    if not isinstance(document, dict):
        raise ConfigError(path, [("", "expected a mapping at the top level")])
    try:
        return model.model_validate(document, context=context), version
    except ValidationError as exc:
        raise ConfigError(path, _problems(exc)) from exc


class TaxonomyClass(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[a-z_]+$")
    description: str = ""


class Taxonomy(BaseModel):
    """`configs/taxonomy.yaml`: the detector classes; the list order is the class id."""

    model_config = ConfigDict(extra="forbid")
    version: int
    classes: list[TaxonomyClass] = Field(min_length=1)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.classes]

    def index(self, name: str) -> int:
        return self.names.index(name)

    @model_validator(mode="after")
    def _unique(self) -> Taxonomy:
        if len(set(self.names)) != len(self.names):
            raise ValueError("class names must be unique")
        return self


def load_taxonomy(path: str | Path = TAXONOMY) -> Taxonomy:
    return load_model(path, Taxonomy)[0]


def taxonomy_classes(path: str | Path = TAXONOMY) -> tuple[str, ...]:
    """The detector class names, in class-id order."""
    return tuple(load_taxonomy(path).names)
