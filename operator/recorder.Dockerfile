# syntax=docker/dockerfile:1
# The recorder and transcoder image: camfleet (`camfleet recorder`, `camfleet verify`) plus Debian's ffmpeg.
# Build from the repository root:
#   docker build -f operator/recorder.Dockerfile -t ghcr.io/camfleet/camfleet-recorder:0.1.0 .
# The operator starts recorder pods with `camfleet recorder` and transcoder pods with `ffmpeg`, as user 65532
# with a read-only root file system; recordings go to the retention volume.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/camfleet
WORKDIR /src
COPY pyproject.toml README.md ./
RUN mkdir -p operator/camfleet && touch operator/camfleet/__init__.py \
    && /opt/camfleet/bin/pip install . \
    && /opt/camfleet/bin/pip uninstall --yes camfleet
COPY operator/camfleet operator/camfleet
RUN /opt/camfleet/bin/pip install --no-deps . \
    && /opt/camfleet/bin/python -m compileall -q /opt/camfleet/lib

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="camfleet-recorder" \
      org.opencontainers.image.description="camfleet recorder and transcoder: ffmpeg into hash-chained segments" \
      org.opencontainers.image.source="https://github.com/camfleet/camfleet" \
      org.opencontainers.image.licenses="Apache-2.0"
# Debian's ffmpeg (5.1 on bookworm): the same build the recorder tests run against.
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ffmpeg \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /opt/camfleet /opt/camfleet
ENV PATH=/opt/camfleet/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 65532:65532
WORKDIR /tmp
EXPOSE 9100
ENTRYPOINT []
CMD ["camfleet", "recorder"]
