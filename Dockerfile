# AIPROD Sandbox: a local emulator of the AIPROD video-pipeline API, for partner CI.
#   docker build -t aiprod-sandbox .
#   docker run --rm -p 8080:8080 aiprod-sandbox --seed 7
# Configure with AIPROD_SANDBOX_* variables or flags after the image name; mount a folder of
# fixtures (-v ./fixtures:/fixtures -e AIPROD_SANDBOX_FIXTURES=/fixtures) or of scenarios
# (-v ./scenarios:/scenarios ... --scenario /scenarios/mine.yaml) to override what is baked in.

ARG PYTHON_VERSION=3.11

# ---- build: a wheel that carries the fixtures, scenarios, sample MP4 and schema ----------
FROM python:${PYTHON_VERSION}-slim AS build
WORKDIR /src
RUN pip install --no-cache-dir build==1.2.2.post1 hatchling==1.27.0
COPY pyproject.toml README.md ./
COPY src ./src
COPY fixtures ./fixtures
COPY scenarios ./scenarios
RUN python -m build --wheel --no-isolation --outdir /dist

# ---- runtime: the wheel in a slim Python, as a non-root user -----------------------------
FROM python:${PYTHON_VERSION}-slim
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="AIPROD Sandbox" \
      org.opencontainers.image.description="Local, stateful emulator of the AIPROD video-pipeline API" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.source="https://github.com/aiprod/aiprod-sandbox" \
      org.opencontainers.image.documentation="https://github.com/aiprod/aiprod-sandbox#readme"
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    AIPROD_SANDBOX_HOST=0.0.0.0 \
    AIPROD_SANDBOX_PORT=8080 \
    AIPROD_SANDBOX_PORT_FILE=/tmp/aiprod-sandbox.port
# The exact dependency versions the tests ran with (the server builds on uvicorn's internals),
# in a layer of their own: a change to the sandbox's source rebuilds only the layer below.
COPY constraints/runtime.txt /tmp/constraints.txt
RUN pip install --no-cache-dir -r /tmp/constraints.txt \
    && rm /tmp/constraints.txt \
    && useradd --create-home --uid 10001 --shell /usr/sbin/nologin sandbox \
    && install -d -o 10001 -g 10001 /data
COPY --from=build /dist/ /tmp/dist/
RUN pip install --no-cache-dir --no-deps /tmp/dist/aiprod_sandbox-*.whl \
    && pip check \
    && rm -rf /tmp/dist
USER 10001
WORKDIR /home/sandbox
EXPOSE 8080
HEALTHCHECK --interval=5s --timeout=3s --start-period=5s --retries=3 \
    CMD ["aiprod-sandbox", "health"]
ENTRYPOINT ["aiprod-sandbox", "serve"]
CMD []
