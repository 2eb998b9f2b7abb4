# syntax=docker/dockerfile:1
# The lumen-argus proxy image (docker.yml builds it for linux/amd64 and linux/arm64).
# Stage 1 builds the workspace's wheels and the locked list of third-party requirements; stage 2
# installs exactly those into a virtualenv and runs the proxy as a non-root user. No build info is
# baked in (`_build_info.py` is for frozen sidecars only, never in a wheel, so never in the image);
# the labels carry version and commit.
# The interpreter must match .python-version (a test compares them).
ARG PYTHON_VERSION=3.12

FROM python:${PYTHON_VERSION}-slim-bookworm AS wheels
WORKDIR /src
RUN pip install --no-cache-dir uv==0.13.9
COPY pyproject.toml uv.lock ./
COPY packages ./packages
RUN uv build --all-packages --wheel --out-dir /wheels \
    && uv export --frozen --no-dev --no-emit-workspace --package lumen-argus-proxy --output-file /wheels/requirements.txt

FROM python:${PYTHON_VERSION}-slim-bookworm
ARG VERSION=unknown
ARG GIT_COMMIT=unknown
LABEL org.opencontainers.image.title="lumen-argus" \
      org.opencontainers.image.description="lumen-argus proxy and dashboard" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${GIT_COMMIT}" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN --mount=type=bind,from=wheels,source=/wheels,target=/wheels \
    python -m venv /opt/lumen-argus \
    && /opt/lumen-argus/bin/pip install --no-cache-dir --require-hashes --requirement /wheels/requirements.txt \
    && /opt/lumen-argus/bin/pip install --no-cache-dir --no-deps --no-index /wheels/lumen_argus_core-*.whl /wheels/lumen_argus_proxy-*.whl
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin lumen-argus
ENV PATH="/opt/lumen-argus/bin:${PATH}" \
    PYTHONUNBUFFERED=1
USER 10001
EXPOSE 8080 8081
# The proxy refuses to listen on 0.0.0.0 without LUMEN_ARGUS_DASHBOARD_PASSWORD: pass one with -e.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/health', timeout=4)"]
ENTRYPOINT ["lumen-argus"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8080", "--dashboard-port", "8081"]
