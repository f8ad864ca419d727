# syntax=docker/dockerfile:1
# One image for every Pulse service and tool: the service is chosen by the command,
#   docker run pulse ingest | scorer | migrate | topics create --partitions 6 | replay ...
# Configuration comes from PULSE__SECTION__KEY environment variables and/or a
# pulse.toml given with PULSE_CONFIG=/path (see docs/operations.md).

# --- build ---------------------------------------------------------------------------
# Debian 13 (trixie) in both stages, so the binary's glibc matches the runtime.
FROM rust:1.95.0-trixie AS builder
# Use the image's toolchain (the same version as rust-toolchain.toml) without fetching
# the clippy/rustfmt components the toolchain file asks for.
ENV RUSTUP_TOOLCHAIN=1.95.0 \
    CARGO_TERM_COLOR=never
WORKDIR /src
COPY . .
# librdkafka is built from source by rdkafka-sys (needs make and a C compiler, both in
# this image). TLS and SCRAM need the rdkafka `ssl` feature; see docs/operations.md.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p pulse --bin pulse \
    && install -m 0755 target/release/pulse /usr/local/bin/pulse

# --- runtime -------------------------------------------------------------------------
FROM debian:13-slim
# ca-certificates for TLS to ClickHouse; curl for container health checks
# (curl -fsS http://127.0.0.1:9464/readyz).
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/pulse --create-home pulse
COPY --from=builder /usr/local/bin/pulse /usr/local/bin/pulse
# The default scorecard; point scorer.scoring_config at your own copy to change it.
COPY config/scoring.toml /etc/pulse/scoring.toml
USER 10001
WORKDIR /var/lib/pulse
# /metrics, /healthz, /readyz: ingest.http_listen and scorer.http_listen (set them to
# 0.0.0.0:PORT in containers; the defaults listen on 127.0.0.1 only).
EXPOSE 9464 9465
ENTRYPOINT ["pulse"]
CMD ["--help"]
