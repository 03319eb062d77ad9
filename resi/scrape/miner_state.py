"""The miner's resumable local state: one JSON file per epoch, written atomically.

A zipcode moves ``pending → written → uploaded → committed``; a restart resumes from the saved
phase, so finished zipcodes are neither re-scraped nor committed twice. The assignment itself is
cached too, so the miner keeps working from it while the API is unreachable.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import Literal

import anyio
from pydantic import BaseModel, ConfigDict, ValidationError

from resi.api.schemas import CurrentAssignment
from resi.errors import ConfigError

STATE_SCHEMA_VERSION = 1

Phase = Literal["pending", "written", "uploaded", "committed"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ZipcodeProgress(_Model):
    zipcode: str
    phase: Phase = "pending"
    file: str | None = None  # path relative to the epoch directory
    sha256: str | None = None
    rows: int | None = None
    size: int | None = None
    key: str | None = None
    committed_at: datetime | None = None  # the server's receive time


class EpochProgress(_Model):
    schema_version: int = STATE_SCHEMA_VERSION
    epoch_id: str
    assignment: CurrentAssignment
    zipcodes: dict[str, ZipcodeProgress]
    completed_reported: bool = False

    def all_committed(self) -> bool:
        return all(z.phase == "committed" for z in self.zipcodes.values())

    def committed_count(self) -> int:
        return sum(z.phase == "committed" for z in self.zipcodes.values())


class StateStore:
    """Per-epoch state under ``workdir/epochs/{epoch_id}/``; saves are serialised by a lock."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = Path(workdir).expanduser()
        self._lock = anyio.Lock()

    def epoch_dir(self, epoch_id: str) -> Path:
        return self.workdir / "epochs" / epoch_id

    def _state_path(self, epoch_id: str) -> Path:
        return self.epoch_dir(epoch_id) / "state.json"

    async def load_or_create(self, assignment: CurrentAssignment) -> EpochProgress:
        """The saved state of this epoch, or a fresh one (saved immediately).

        Raises ``ConfigError`` when the saved file is corrupt or from a newer resi.
        """
        loaded = await self.load(assignment.epoch_id)
        if loaded is not None:
            return loaded
        state = EpochProgress(
            epoch_id=assignment.epoch_id,
            assignment=assignment,
            zipcodes={z.zipcode: ZipcodeProgress(zipcode=z.zipcode) for z in assignment.zipcodes},
        )
        await self.save(state)
        return state

    async def load(self, epoch_id: str) -> EpochProgress | None:
        path = self._state_path(epoch_id)
        try:
            raw = await anyio.Path(path).read_text()
        except FileNotFoundError:
            return None
        return _parse(raw, path)

    async def save(self, state: EpochProgress) -> None:
        """Write atomically (temp file + rename); snapshots are taken in order under a lock."""
        async with self._lock:
            text = state.model_dump_json(indent=1)
            await anyio.to_thread.run_sync(_atomic_write, self._state_path(state.epoch_id), text)

    async def save_assignment(self, assignment: CurrentAssignment) -> None:
        """Remember the newest assignment so an API outage does not stop work."""
        payload = json.dumps(
            {
                "schema_version": STATE_SCHEMA_VERSION,
                "assignment": assignment.model_dump(mode="json"),
            }
        )
        async with self._lock:
            await anyio.to_thread.run_sync(_atomic_write, self.workdir / "assignment.json", payload)

    async def cached_assignment(self) -> CurrentAssignment | None:
        path = self.workdir / "assignment.json"
        try:
            raw = await anyio.Path(path).read_text()
        except FileNotFoundError:
            return None
        try:
            data = json.loads(raw)
            if data.get("schema_version") != STATE_SCHEMA_VERSION:
                raise ConfigError(
                    f"{path}: unsupported schema_version {data.get('schema_version')}"
                )
            return CurrentAssignment.model_validate(data["assignment"])
        except (ValueError, KeyError, ValidationError, AttributeError):
            raise ConfigError(f"{path}: corrupt cached assignment; delete it to continue") from None


def _parse(raw: str, path: Path) -> EpochProgress:
    try:
        data = json.loads(raw)
        version = data.get("schema_version")
    except (ValueError, AttributeError):
        raise ConfigError(
            f"{path}: corrupt miner state; delete it to start the epoch over"
        ) from None
    if version != STATE_SCHEMA_VERSION:
        raise ConfigError(f"{path}: unsupported miner state schema_version {version!r}")
    try:
        return EpochProgress.model_validate(data)
    except ValidationError:
        raise ConfigError(
            f"{path}: corrupt miner state; delete it to start the epoch over"
        ) from None


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
