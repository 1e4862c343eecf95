# syntax=docker/dockerfile:1
# The edge gateway daemon (`autoglm edge run`): slim Python, no torch (`pip install '.[edge]'`).
# Multi-arch: every instruction is architecture-independent (onnxruntime and tokenizers ship amd64 and arm64
# wheels), so one command builds both:
#   docker buildx build --platform linux/amd64,linux/arm64 -f deploy/docker/edge.Dockerfile -t autoglm-edge .
# Settings come from environment variables (edge/config.py) or a TOML file (--config).

FROM python:3.12-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/autoglm
WORKDIR /src
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY edge ./edge
COPY cloud ./cloud
COPY autoglm ./autoglm
# The edge extra pins what the gateway needs; torch is not in it (scripts/check-edge-install checks the same).
RUN /opt/autoglm/bin/pip install '.[edge]' \
    && if /opt/autoglm/bin/python -c "import torch" 2>/dev/null; then echo "torch in the edge image" >&2; exit 1; fi

FROM python:3.12-slim-bookworm
LABEL org.opencontainers.image.title="autoglm-edge" \
      org.opencontainers.image.description="AutoGLM Hybrid edge gateway daemon" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /opt/autoglm /opt/autoglm
RUN groupadd --system --gid 10001 autoglm \
    && useradd --system --uid 10001 --gid autoglm --home-dir /var/lib/autoglm --create-home autoglm \
    && mkdir -p /var/lib/autoglm/edge && chown -R autoglm:autoglm /var/lib/autoglm
ENV PATH=/opt/autoglm/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    OPEN_AUTOGLM_EDGE__DATA_DIR=/var/lib/autoglm/edge \
    OPEN_AUTOGLM_EDGE__HTTP__HOST=0.0.0.0 \
    OPEN_AUTOGLM_EDGE__HTTP__PORT=8081
USER 10001:10001
WORKDIR /var/lib/autoglm
VOLUME ["/var/lib/autoglm/edge"]
EXPOSE 8081
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=5 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('OPEN_AUTOGLM_EDGE__HTTP__PORT', '8081') + '/healthz', timeout=3)"]
ENTRYPOINT ["autoglm"]
CMD ["edge", "run"]
