# fluxq: one image with the three binaries (worker, producer, mock-provider).
#
#   docker build -t fluxq .
#   docker run --rm fluxq producer --help        # default command: worker
#
# Stages: chef (the Rust toolchain + cargo-chef) -> planner (the dependency recipe,
# from the manifests and Cargo.lock) -> builder (dependencies first, as their own
# cached layer, then the workspace) -> runtime (debian slim, non-root, no compiler).
# Changing only .rs files rebuilds from the "workspace" step; the dependency layer
# stays cached until Cargo.toml or Cargo.lock change.

ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

FROM rust:${RUST_VERSION}-slim-${DEBIAN_RELEASE} AS chef
ARG CARGO_CHEF_VERSION=0.1.77
# rust:*-slim has gcc and libc6-dev: enough for ring and aws-lc-sys (rustls' crypto;
# no cmake needed on x86_64/aarch64 Linux). No OpenSSL anywhere.
RUN cargo install cargo-chef --locked --version "${CARGO_CHEF_VERSION}" \
    && rm -rf "${CARGO_HOME}/registry"
WORKDIR /src

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
COPY --from=planner /src/recipe.json recipe.json
# Dependencies only: the layer Docker caches across source changes.
RUN cargo chef cook --release --recipe-path recipe.json
# The workspace itself.
COPY . .
RUN cargo build --release --locked \
        -p fluxq-worker -p fluxq-producer -p fluxq-mock-provider \
    && mkdir -p /out \
    && cp target/release/worker target/release/producer target/release/mock-provider /out/

FROM debian:${DEBIAN_RELEASE}-slim AS runtime
# ca-certificates: TLS to the real providers (rustls reads the system roots).
# Nothing else: health checks use docker/http-check, a bash script (bash is in the
# base image), instead of curl or wget.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 fluxq \
    && useradd --system --uid 10001 --gid fluxq --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin fluxq \
    && mkdir -p /data/output /usr/share/fluxq \
    && chown 10001:10001 /data/output

COPY --from=builder /out/ /usr/local/bin/
COPY docker/http-check /usr/local/bin/http-check
COPY examples/demo.jsonl /usr/share/fluxq/demo.jsonl

LABEL org.opencontainers.image.title="fluxq" \
      org.opencontainers.image.description="Distributed job-queue workers turning FLUX.2 image-generation jobs into stored images: worker, producer, mock-provider." \
      org.opencontainers.image.licenses="Apache-2.0"

ENV FLUXQ_OUTPUT_DIR=/data/output \
    FLUXQ_METRICS_ADDR=0.0.0.0:9090 \
    FLUXQ_LOG_FORMAT=json \
    RUST_LOG=info

# A fresh named volume mounted here starts owned by uid 10001, as in the image.
VOLUME ["/data/output"]
WORKDIR /data
# 9090: worker metrics and probes; 8089: mock-provider.
EXPOSE 9090 8089
USER 10001:10001

# No ENTRYPOINT, so `docker run IMAGE producer submit ...` just works.
CMD ["worker"]
