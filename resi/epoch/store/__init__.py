"""Persistence of the epoch service: ``open_store(url)`` returns a ``Store`` (SQLite/Postgres)."""

from __future__ import annotations

from resi.epoch.store.base import Store, open_store

__all__ = ["Store", "open_store"]
