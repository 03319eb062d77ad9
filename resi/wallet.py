"""btcli-style wallets without prompts: load a hotkey for signing, create devnet/test wallets.

Layout (bittensor 11): ``<path>/<name>/coldkey``, ``coldkeypub.txt``, ``hotkeys/<hotkey>`` and
``hotkeys/<hotkey>pub.txt``. Servers only ever need the hotkey; nothing here reads a private
coldkey. ``import bittensor`` costs about half a second, so it happens inside the functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from resi.errors import WalletError

if TYPE_CHECKING:
    from bittensor.sp_core import Keypair


@dataclass(frozen=True)
class WalletInfo:
    name: str
    hotkey: str
    coldkey_ss58: str
    hotkey_ss58: str
    path: Path


def wallet_dir(name: str, path: Path | str) -> Path:
    """The directory of wallet ``name`` under ``path`` (``~`` expanded)."""
    return Path(path).expanduser() / name


def hotkey_file(name: str, hotkey: str, path: Path | str) -> Path:
    """Where the private hotkey of ``name``/``hotkey`` lives."""
    return wallet_dir(name, path) / "hotkeys" / hotkey


def load_keypair(
    name: str, hotkey: str, path: Path | str, *, password: str | None = None
) -> Keypair:
    """Load the hotkey keypair of wallet ``name``/``hotkey`` under ``path``; never prompts.

    An encrypted hotkey is unlocked with ``password`` or the SDK's ``BT_PW_<PATH>`` environment
    variable; without either it is refused. Returns a ``bittensor.sp_core.Keypair``.
    Raises ``WalletError`` when the file is missing, unreadable, encrypted without a password
    source, or the password is wrong.
    """
    from bittensor.keyfiles import Keyfile, KeyfileError, resolve_key_password

    file = hotkey_file(name, hotkey, path)
    if not file.is_file():
        raise WalletError(
            f"hotkey file {file} not found (wallet {name!r}, hotkey {hotkey!r}); "
            "create one with `resi wallet create` or check --wallet.path"
        )
    keyfile = Keyfile(file, hotkey)
    if not keyfile.is_readable():
        raise WalletError(f"hotkey file {file} is not readable by this user")
    secret: str | None = None
    if keyfile.is_encrypted():
        secret = resolve_key_password(
            password, env_var_name=keyfile.env_var_name(), allow_prompt=False
        )
        if secret is None:
            raise WalletError(
                f"hotkey file {file} is encrypted and no password source is set "
                f"(set {keyfile.env_var_name()} or use an unencrypted hotkey)"
            )
    try:
        return keyfile.get_keypair(secret)
    except (KeyfileError, ValueError) as exc:
        raise WalletError(f"cannot load hotkey file {file}: {exc}") from None
    except OSError as exc:
        raise WalletError(f"cannot read hotkey file {file}: {exc.strerror}") from None


def create_wallet(
    name: str,
    hotkey: str,
    path: Path | str,
    *,
    overwrite: bool = False,
    coldkey_password: str | None = None,
) -> WalletInfo:
    """Create a wallet with a new coldkey and an unencrypted hotkey; never prompts or prints.

    If the coldkey already exists (and ``overwrite`` is false) it is kept and only the hotkey
    is added, so one coldkey can own several hotkeys. The coldkey is stored unencrypted unless
    ``coldkey_password`` is given (fine for devnet/test wallets, not for real funds).
    Returns the wallet's addresses. Raises ``WalletError`` if the hotkey exists and
    ``overwrite`` is false, or the files cannot be written.
    """
    import bittensor as bt

    root = Path(path).expanduser()
    wallet = bt.Wallet(name=name, hotkey=hotkey, path=str(root))
    cold_exists = (wallet_dir(name, root) / "coldkeypub.txt").is_file()
    if hotkey_file(name, hotkey, root).exists() and not overwrite:
        raise WalletError(
            f"hotkey {hotkey!r} of wallet {name!r} already exists under {root} "
            "(pass --overwrite to replace it)"
        )
    try:
        if overwrite or not cold_exists:
            wallet.create_new_coldkey(
                use_password=coldkey_password is not None,
                coldkey_password=coldkey_password,
                overwrite=True,
                suppress=True,
            )
        wallet.create_new_hotkey(use_password=False, overwrite=True, suppress=True)
        coldkey_ss58 = wallet.coldkeypub.ss58_address
        hotkey_ss58 = wallet.hotkey.ss58_address
    except (OSError, bt.BittensorError, ValueError) as exc:
        raise WalletError(f"cannot create wallet {name!r}/{hotkey!r} under {root}: {exc}") from None
    return WalletInfo(
        name=name,
        hotkey=hotkey,
        coldkey_ss58=coldkey_ss58,
        hotkey_ss58=hotkey_ss58,
        path=root,
    )


def show_wallet(name: str, hotkey: str, path: Path | str) -> WalletInfo:
    """The ss58 addresses of an existing wallet, read from its public files only.

    Raises ``WalletError`` if the coldkey or hotkey public file is missing.
    """
    import bittensor as bt

    root = Path(path).expanduser()
    wallet = bt.Wallet(name=name, hotkey=hotkey, path=str(root))
    try:
        coldkey_ss58 = wallet.coldkeypub.ss58_address
    except (OSError, bt.BittensorError, ValueError) as exc:
        raise WalletError(
            f"wallet {name!r} under {root} has no readable coldkeypub: {exc}"
        ) from None
    pub = hotkey_file(name, hotkey, root).with_name(f"{hotkey}pub.txt")
    if pub.is_file():
        try:
            hotkey_ss58 = wallet.hotkeypub.ss58_address
        except (OSError, bt.BittensorError, ValueError) as exc:
            raise WalletError(f"cannot read {pub}: {exc}") from None
    else:
        # Legacy wallets have no hotkey pub file; the (unencrypted) hotkey has the address.
        hotkey_ss58 = load_keypair(name, hotkey, root).ss58_address
    return WalletInfo(
        name=name, hotkey=hotkey, coldkey_ss58=coldkey_ss58, hotkey_ss58=hotkey_ss58, path=root
    )
