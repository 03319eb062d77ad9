"""Wallet helpers: btcli layout, never a prompt, clear errors for missing/encrypted keys."""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Callable
from pathlib import Path

import bittensor as bt
import pytest

from resi.errors import WalletError
from resi.wallet import WalletInfo, create_wallet, load_keypair, show_wallet


def test_create_uses_btcli_layout_and_loads_back(tmp_path: Path) -> None:
    info = create_wallet("cold", "hot", tmp_path)
    hotkey = tmp_path / "cold" / "hotkeys" / "hot"
    assert hotkey.is_file() and (tmp_path / "cold" / "coldkeypub.txt").is_file()
    assert stat.S_IMODE(os.stat(hotkey).st_mode) == 0o600
    assert load_keypair("cold", "hot", tmp_path).ss58_address == info.hotkey_ss58
    # The SDK reads the same files.
    assert bt.Wallet("cold", "hot", str(tmp_path)).hotkey.ss58_address == info.hotkey_ss58


def test_second_hotkey_keeps_the_coldkey(tmp_path: Path) -> None:
    first = create_wallet("cold", "a", tmp_path)
    second = create_wallet("cold", "b", tmp_path)
    assert first.coldkey_ss58 == second.coldkey_ss58
    assert first.hotkey_ss58 != second.hotkey_ss58
    assert show_wallet("cold", "b", tmp_path) == second


def test_overwrite_replaces_the_hotkey(tmp_path: Path) -> None:
    first = create_wallet("cold", "hot", tmp_path)
    with pytest.raises(WalletError, match="already exists"):
        create_wallet("cold", "hot", tmp_path)
    again = create_wallet("cold", "hot", tmp_path, overwrite=True)
    assert again.hotkey_ss58 != first.hotkey_ss58


def test_missing_hotkey_is_a_wallet_error(tmp_path: Path) -> None:
    with pytest.raises(WalletError, match="not found"):
        load_keypair("nobody", "default", tmp_path)


def test_encrypted_hotkey_without_password_source_is_refused_not_prompted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: a prompt (getpass) would hang a daemon; refuse with a clear error instead."""
    create_wallet("enc", "hot", tmp_path)
    # An encrypted key file is recognised by its `$NACL` header; real encryption (argon2)
    # takes seconds, and the refusal happens before any decryption is attempted.
    (tmp_path / "enc" / "hotkeys" / "hot").write_bytes(b"$NACL" + bytes(120))
    for key in [k for k in os.environ if k.startswith("BT_PW_")]:
        monkeypatch.delenv(key)
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    with pytest.raises(WalletError, match="encrypted and no password source") as info:
        load_keypair("enc", "hot", tmp_path)
    assert "BT_PW_" in str(info.value)


def test_wallet_pool_fixture_gives_distinct_hotkeys(
    wallets: Callable[[int], list[WalletInfo]],
) -> None:
    made = wallets(3)
    assert len({w.hotkey_ss58 for w in made}) == 3
    assert wallets(2) == made[:2]
