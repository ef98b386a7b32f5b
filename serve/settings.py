"""Service settings from the environment (`CITYPATROL_*`), validated at start-up."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from cv.model_card import MODELS_DIR
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
    model: Path | None = Field(
        None, description="ONNX model with its card; default: the promoted one in models_dir, else the newest")
    models_dir: Path = Field(MODELS_DIR, description="shipped and promoted models (`citypatrol model promote`)")
    conf: float = Field(0.25, gt=0, lt=1, description="detector confidence threshold")
    max_frame_bytes: int = Field(10 * 1024 * 1024, gt=0, description="larger uploads are refused unread (413)")
    max_frame_pixels: int = Field(40_000_000, gt=0, description="decompression-bomb limit, from the header")
    detector_batch: int = Field(2, ge=1, description="images (frames and their wall crops) detected in one run")
    detector_streams: int = Field(
        0, ge=0, description="batches detected side by side, each on its share of the cores; 0: one per core")
    detector_queue: int = Field(32, ge=1, description="frames allowed to wait; beyond it 503 + Retry-After")
    second_look_interval_s: float = Field(
        60, ge=0, description="a camera's walls get a full-resolution second look (fly-posters) at most this "
                              "often, in camera time; 0: every frame")
    keep_all_frames: bool = Field(False, description="also keep frames that touch no incident")
    session_hours: float = Field(12, gt=0, description="how long a login lasts")
    admin_username: str = "admin"
    admin_password: str | None = Field(None, description="first start: the admin's password (else one is printed)")
    log_level: str = "INFO"

    @property
    def evidence_dir(self) -> Path:
        return self.data_dir / "evidence"

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'citypatrol.sqlite3').resolve()}"
