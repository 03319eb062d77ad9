"""Object storage: key layout (pure), server-side issuance (aioboto3), client transfers (httpx),
and a local SeaweedFS harness for devnet and tests. See ``docs/storage.md``.

What the local server does not enforce, and what our code checks instead: SeaweedFS enforces the
presigned POST policy (key prefix, size range, expiry, signature) and presigned GET signatures,
but grants are prefix-only and no exact-match field conditions are verified. So the API checks
that a committed key is inside the caller's prefix (``layout.is_in_prefix``) and that the object
exists with the committed size (``S3Issuer.head``), and validators verify the sha256 of what they
download (``transfer.download_file``).
"""
