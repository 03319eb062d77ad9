"""Register a wallet's hotkey on a local devnet chain file (what `btcli subnet register` does on
a real chain), so `resi serve-api --subtensor.network devnet` lets it in.

    python examples/devnet_register.py --wallet.name miner1                        # a miner
    python examples/devnet_register.py --wallet.name validator1 --stake 5000 --permit  # a validator

Every process of a devnet must use the same chain file and block time: pass the same
``RESI_DEVNET_CHAIN_PATH`` / ``RESI_BLOCK_TIME`` (or flags here) as the API server. Registering
again is idempotent (the uid is kept; stake and permit are updated).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from resi.chain.devnet import DevnetChain
from resi.wallet import load_keypair


def main() -> None:
    env = os.environ
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # The bittensor flag names, with the older ones as aliases (as every resi command).
    parser.add_argument(
        "--wallet.name", "--wallet", dest="wallet", default=env.get("RESI_WALLET_NAME", "default")
    )
    parser.add_argument(
        "--wallet.hotkey",
        "--hotkey",
        dest="hotkey",
        default=env.get("RESI_WALLET_HOTKEY", "default"),
    )
    parser.add_argument(
        "--wallet.path",
        "--wallet-path",
        dest="wallet_path",
        default=env.get("RESI_WALLET_PATH", "~/.bittensor/wallets"),
    )
    parser.add_argument(
        "--chain", default=env.get("RESI_DEVNET_CHAIN_PATH", "resi-devnet-chain.sqlite")
    )
    parser.add_argument("--netuid", type=int, default=int(env.get("RESI_NETUID", "46")))
    parser.add_argument("--block-time", type=float, default=float(env.get("RESI_BLOCK_TIME", "12")))
    parser.add_argument("--stake", type=float, default=0.0, help="Stake (validators need >= 1000).")
    parser.add_argument("--permit", action="store_true", help="Give a validator permit.")
    args = parser.parse_args()

    keypair = load_keypair(args.wallet, args.hotkey, args.wallet_path)
    coldkey_pub = Path(args.wallet_path).expanduser() / args.wallet / "coldkeypub.txt"
    coldkey = json.loads(coldkey_pub.read_text())["ss58Address"]
    chain = DevnetChain(Path(args.chain), netuid=args.netuid, block_time=args.block_time)
    uid = chain.register(keypair.ss58_address, coldkey, args.stake, args.permit)
    role = "validator" if args.permit else "miner"
    print(f"registered {keypair.ss58_address} as uid {uid} ({role}) on {chain.path}")


if __name__ == "__main__":
    main()
