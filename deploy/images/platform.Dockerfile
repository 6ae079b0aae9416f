# The platform image: the operator, the uploader and its prober (one image, exec-form commands).
#   uploader (default):  python3 -m hlsforge_uploader
#   prober:              command: ["python3", "-m", "hlsforge_uploader.prober"]  (another uid,
#                        e.g. 10002: it needs no passwd entry, no home and no writable path)
#   operator:            command: ["python3", "-m", "hlsforge_operator"]
# It carries ffprobe because every upload is probed with the engine's rules (by the prober
# container, which holds no credential) before a TranscodeJob is created, and the `hlsforge` CLI
# (the `client` extra: httpx + websockets, which uvicorn's WebSocket protocol needs too), which
# the chart's `helm test` pod runs.
#
# Build from a folder whose build/wheels/ holds the package and its dependencies as wheels, so the
# build needs no access to PyPI (mk/platform.mk does this in build/platform/context):
#   pip wheel --wheel-dir build/wheels '.[operator,uploader,client]'   # after `make web`
#   docker build -f deploy/images/platform.Dockerfile -t hlsforge/platform:dev .
# BASE_IMAGE defaults to the public Debian image; the repo's scripts pass the locally built one.
# Both stages must use the same base (the venv links its python3). The stages start with the
# same instructions as transcoder-image/Dockerfile so the two images share their big layers.
ARG BASE_IMAGE=debian:bookworm-slim

FROM ${BASE_IMAGE} AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY build/wheels/ /wheels/
# The dashboard's hls.js bundle is package data (make web); refuse to build an image without it.
RUN python3 -m venv /opt/hlsforge \
 && /opt/hlsforge/bin/pip install --no-cache-dir --no-compile --no-index --find-links /wheels \
      'hlsforge[operator,uploader,client]' \
 && /opt/hlsforge/bin/pip uninstall -y pip setuptools \
 && find /opt/hlsforge -name '__pycache__' -prune -exec rm -rf {} + \
 && test -s /opt/hlsforge/lib/python3*/site-packages/hlsforge_uploader/static/vendor/hls.min.js

FROM ${BASE_IMAGE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg python3 \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /usr/share/doc /usr/share/man \
 && groupadd --gid 10001 hlsforge \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /tmp \
      --shell /usr/sbin/nologin hlsforge
COPY --from=build /opt/hlsforge /opt/hlsforge
ENV PATH=/opt/hlsforge/bin:/usr/local/bin:/usr/bin:/bin \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    HLSFORGE_HOST=0.0.0.0
USER 10001:10001
WORKDIR /tmp
EXPOSE 8000
ENTRYPOINT ["python3", "-m", "hlsforge_uploader"]
