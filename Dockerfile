# Slim image whose entrypoint is the `resi` command:
#   docker build -t resi . && docker run --rm resi --help
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    # The bittensor SDK writes small caches under ~/.bittensor; keep them in the data volume.
    HOME=/data

WORKDIR /src
COPY pyproject.toml README.md ./
COPY resi ./resi
RUN pip install . && rm -rf /src

RUN useradd --create-home --home-dir /data --uid 10001 resi
USER resi
WORKDIR /data
VOLUME ["/data"]

ENTRYPOINT ["resi"]
CMD ["--help"]
