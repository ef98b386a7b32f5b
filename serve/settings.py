"""Service settings from the environment (`CITYPATROL_*`), validated at start-up."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from cv.rulebook import DEFAULT_RULEBOOK
from cv.zones import DEFAULT_CAMERAS


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CITYPATROL_")

    data_dir: Path = Field(Path("var"), description="all state (SQLite file, evidence, logs) lives here")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL, e.g. postgresql://user@host/db; default SQLite in data_dir"
    )
    cameras_config: Path = DEFAULT_CAMERAS
    rulebook: Path = DEFAULT_RULEBOOK

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'citypatrol.sqlite3').resolve()}"
