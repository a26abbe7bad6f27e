# syntax=docker/dockerfile:1.7
# The likeness consent service. Multi-stage: the build stage installs the service, pulls and
# checks every model (exporting the voice model to ONNX with torch, which the runtime image does
# not carry); the runtime stage is non-root, read-only friendly, with models baked in.
#
#   docker build -t likeness-consent:0.1.0 .                          # CPU (onnxruntime)
#   docker build -t likeness-consent:0.1.0-gpu --build-arg VARIANT=gpu .  # CUDA (onnxruntime-gpu)
#
# The insightface face models are for non-commercial research only: see README "Models".
ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim-bookworm AS build
ARG VARIANT=cpu
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY identity_service ./identity_service
COPY kernel ./kernel
COPY identity ./identity
COPY auditlog ./auditlog
COPY consent ./consent
COPY liveness ./liveness
COPY likeness ./likeness
# The serving environment: only what the service needs at run time.
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --upgrade pip \
 && /opt/venv/bin/pip install . \
 && if [ "$VARIANT" = "gpu" ]; then \
      /opt/venv/bin/pip uninstall -y onnxruntime \
      && /opt/venv/bin/pip install "onnxruntime-gpu[cuda,cudnn]>=1.20"; \
    fi
# A throwaway environment with torch (CPU build) and speechbrain, only to pull the models and
# export the voice model; nothing of it reaches the runtime image.
RUN python -m venv /opt/export \
 && /opt/export/bin/pip install --upgrade pip \
 && /opt/export/bin/pip install --index-url https://download.pytorch.org/whl/cpu "torch==2.13.0" \
 && /opt/export/bin/pip install ".[export]"
RUN LIKENESS_MODEL_DIR=/opt/models LIKENESS_MODEL_SOURCE_DIR=/nonexistent /opt/export/bin/identity-service models pull \
 && LIKENESS_MODEL_DIR=/opt/models /opt/venv/bin/identity-service models verify

FROM python:${PYTHON_VERSION}-slim-bookworm AS runtime
ARG VARIANT=cpu
LABEL org.opencontainers.image.title="likeness-consent" \
      org.opencontainers.image.description="Enrollment with liveness, encrypted templates, cameo grants, audit log" \
      org.opencontainers.image.licenses="Apache-2.0 AND LicenseRef-InsightFace-non-commercial" \
      io.likeness.model-licences="face detection, embedding and landmarks (InsightFace SCRFD-500M, w600k_mbf, 2d106det) are for non-commercial research only" \
      io.likeness.variant="${VARIANT}"
RUN groupadd --system --gid 10001 likeness \
 && useradd --system --uid 10001 --gid likeness --home-dir /var/lib/likeness --shell /usr/sbin/nologin likeness \
 && install -d -o likeness -g likeness -m 0700 /var/lib/likeness
COPY --from=build /opt/venv /opt/venv
COPY --from=build /opt/models /opt/models
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    LIKENESS_DATA_DIR=/var/lib/likeness \
    LIKENESS_MODEL_DIR=/opt/models \
    LIKENESS_LISTEN_ADDRESS=0.0.0.0:50051 \
    LIKENESS_USER_API_LISTEN_ADDRESS=0.0.0.0:8080 \
    LIKENESS_METRICS_LISTEN_ADDRESS=0.0.0.0:9464 \
    LIKENESS_LOG_FORMAT=json
USER 10001:10001
WORKDIR /var/lib/likeness
EXPOSE 50051 8080 9464
ENTRYPOINT ["identity-service"]
CMD ["serve"]
