"""resi: the toolkit that runs a Bittensor subnet for US real-estate listings."""

from __future__ import annotations

__version__ = "0.1.0"
