"""Versioned schema migrations of the epoch store, applied in order at open.

Each migration is a list of DDL templates (type tokens filled by the dialect). The applied
version lives in ``schema_version``; a database newer than ``LATEST`` is refused.
Never edit a released migration: append a new one.
"""

from __future__ import annotations

MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        """CREATE TABLE catalog (
            zipcode TEXT PRIMARY KEY,
            state TEXT NOT NULL,
            city TEXT NOT NULL,
            county TEXT NOT NULL,
            lat {real} NOT NULL,
            lon {real} NOT NULL,
            zip_type TEXT NOT NULL,
            expected_listings {bigint} NOT NULL,
            market_tier TEXT NOT NULL,
            region TEXT NOT NULL
        )""",
        """CREATE TABLE epochs (
            epoch_id TEXT PRIMARY KEY,
            start_at {ts} NOT NULL,
            end_at {ts} NOT NULL,
            deadline_at {ts} NOT NULL,
            state TEXT NOT NULL,
            nonce TEXT NOT NULL,
            target {bigint} NOT NULL,
            tolerance {real} NOT NULL,
            achieved_sum {bigint} NOT NULL
        )""",
        "CREATE INDEX epochs_start ON epochs (start_at)",
        """CREATE TABLE assignments (
            epoch_id TEXT NOT NULL REFERENCES epochs (epoch_id) ON DELETE CASCADE,
            slot INTEGER NOT NULL,
            zipcode TEXT NOT NULL,
            expected_listings {bigint} NOT NULL,
            state TEXT NOT NULL,
            city TEXT NOT NULL,
            county TEXT NOT NULL,
            market_tier TEXT NOT NULL,
            region TEXT NOT NULL,
            lat {real} NOT NULL,
            lon {real} NOT NULL,
            honeypot {bool} NOT NULL,
            PRIMARY KEY (epoch_id, slot),
            UNIQUE (epoch_id, zipcode)
        )""",
        "CREATE INDEX assignments_zipcode ON assignments (zipcode)",
        """CREATE TABLE commits (
            epoch_id TEXT NOT NULL,
            hotkey TEXT NOT NULL,
            zipcode TEXT NOT NULL,
            object_key TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            row_count {bigint} NOT NULL,
            size_bytes {bigint} NOT NULL,
            received_at {ts} NOT NULL,
            PRIMARY KEY (epoch_id, hotkey, zipcode)
        )""",
        "CREATE INDEX commits_order ON commits (epoch_id, received_at)",
        """CREATE TABLE miner_status (
            epoch_id TEXT NOT NULL,
            hotkey TEXT NOT NULL,
            status TEXT NOT NULL,
            detail TEXT,
            reported_at {ts} NOT NULL,
            PRIMARY KEY (epoch_id, hotkey)
        )""",
        """CREATE TABLE validator_results (
            epoch_id TEXT NOT NULL,
            validator_hotkey TEXT NOT NULL,
            consensus_hash TEXT NOT NULL,
            report_key TEXT NOT NULL,
            reported_at {ts} NOT NULL,
            PRIMARY KEY (epoch_id, validator_hotkey)
        )""",
        """CREATE TABLE auth_nonces (
            hotkey TEXT NOT NULL,
            nonce_ns {bigint} NOT NULL,
            expires_at {ts} NOT NULL,
            PRIMARY KEY (hotkey, nonce_ns)
        )""",
        "CREATE INDEX auth_nonces_expiry ON auth_nonces (expires_at)",
        """CREATE TABLE rate_limits (
            hotkey TEXT NOT NULL,
            route TEXT NOT NULL,
            window_start {ts} NOT NULL,
            hits {bigint} NOT NULL,
            PRIMARY KEY (hotkey, route, window_start)
        )""",
        """CREATE TABLE validated_counts (
            epoch_id TEXT NOT NULL,
            zipcode TEXT NOT NULL,
            listing_count {bigint} NOT NULL,
            PRIMARY KEY (epoch_id, zipcode)
        )""",
    ),
    # issue 18: each validator's compact report summary per epoch (served by the explorer).
    2: (
        """CREATE TABLE result_summaries (
            epoch_id TEXT NOT NULL,
            validator_hotkey TEXT NOT NULL,
            consensus_hash TEXT NOT NULL,
            summary_json TEXT NOT NULL,
            reported_at {ts} NOT NULL,
            PRIMARY KEY (epoch_id, validator_hotkey)
        )""",
    ),
    # issue 16: signed operator actions (extend-epoch, pause/resume-selection), an audit trail.
    3: (
        """CREATE TABLE admin_actions (
            action_id TEXT PRIMARY KEY,
            at {ts} NOT NULL,
            hotkey TEXT NOT NULL,
            action TEXT NOT NULL,
            epoch_id TEXT,
            detail TEXT NOT NULL
        )""",
        "CREATE INDEX admin_actions_at ON admin_actions (at)",
    ),
    # issue 14: the calibration loop (validators' per-zipcode reports, folded epochs) and
    # honeypot beliefs from imported inventory data.
    4: (
        """CREATE TABLE zipcode_reports (
            epoch_id TEXT NOT NULL,
            validator_hotkey TEXT NOT NULL,
            zipcode TEXT NOT NULL,
            validated_count {bigint} NOT NULL,
            contradicted {bool} NOT NULL,
            stake {real} NOT NULL,
            reported_at {ts} NOT NULL,
            PRIMARY KEY (epoch_id, validator_hotkey, zipcode)
        )""",
        """CREATE TABLE calibration_folds (
            epoch_id TEXT PRIMARY KEY,
            zipcodes {bigint} NOT NULL,
            folded_at {ts} NOT NULL
        )""",
        """CREATE TABLE empty_beliefs (
            zipcode TEXT PRIMARY KEY,
            source TEXT NOT NULL,
            recorded_at {ts} NOT NULL
        )""",
    ),
}

LATEST = max(MIGRATIONS)
