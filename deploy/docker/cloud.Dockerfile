# syntax=docker/dockerfile:1
# The cloud control plane and GLM planner (`autoglm cloud serve`) on a CUDA runtime base.
#   docker build -f deploy/docker/cloud.Dockerfile -t autoglm-cloud .
# Run it with a GPU: `docker run --gpus all ...` (or the compose file's device reservation); without one the
# planner falls back to the CPU (`OPEN_AUTOGLM_PLANNER__DEVICE=auto`). amd64 only: the CUDA build of torch.
# Settings come from environment variables (the cloud and planner tables of cloud/settings.py).

FROM nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04 AS build
ENV DEBIAN_FRONTEND=noninteractive PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# Ubuntu 24.04's Python is 3.12 (the project needs >= 3.11). Versions follow the base image's snapshot.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv \
    && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /opt/autoglm
WORKDIR /src
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY edge ./edge
COPY cloud ./cloud
COPY autoglm ./autoglm
# The cloud extra pins torch, transformers, torchao and xgrammar; the PyPI torch wheel carries its CUDA libraries.
RUN /opt/autoglm/bin/pip install '.[cloud]'

FROM nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04
LABEL org.opencontainers.image.title="autoglm-cloud" \
      org.opencontainers.image.description="AutoGLM Hybrid cloud control plane and GLM planner" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV DEBIAN_FRONTEND=noninteractive
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 autoglm \
    && useradd --system --uid 10001 --gid autoglm --home-dir /var/lib/autoglm --create-home autoglm \
    && mkdir -p /var/lib/autoglm/cloud && chown -R autoglm:autoglm /var/lib/autoglm
COPY --from=build /opt/autoglm /opt/autoglm
ENV PATH=/opt/autoglm/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    OPEN_AUTOGLM_CLOUD__HOST=0.0.0.0 \
    OPEN_AUTOGLM_CLOUD__PORT=8080 \
    OPEN_AUTOGLM_CLOUD__DB_PATH=/var/lib/autoglm/cloud/cloud.db
USER 10001:10001
WORKDIR /var/lib/autoglm
VOLUME ["/var/lib/autoglm/cloud"]
EXPOSE 8080
# Liveness only: /readyz (database and planner state) is for the load balancer, not for restarting.
HEALTHCHECK --interval=15s --timeout=3s --start-period=120s --retries=5 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('OPEN_AUTOGLM_CLOUD__PORT', '8080') + '/healthz', timeout=3)"]
ENTRYPOINT ["autoglm"]
CMD ["cloud", "serve"]
