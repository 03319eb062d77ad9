"""`resi devnet` ends by naming the explorer's address."""

from __future__ import annotations

import pytest

from resi.cli.devnet import render
from resi.devnet.report import DevnetResult


def test_devnet_output_names_the_explorer(capsys: pytest.CaptureFixture[str]) -> None:
    result = DevnetResult(
        data_dir="/tmp/x",
        kept=False,
        epochs=(),
        complete=True,
        explorer_url="http://127.0.0.1:4242/",
    )
    render(result)
    out = capsys.readouterr().out
    assert "explorer: http://127.0.0.1:4242/" in out
    assert "--keep-api" in out
    assert result.to_json()["explorer_url"] == "http://127.0.0.1:4242/"
