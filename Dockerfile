# Multi-stage build: the runtime image holds one binary (rustls for TLS, bundled SQLite) and libssl3,
# which webauthn-rs (passkeys) uses for its signature checks; the build image has libssl-dev already.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin gatehouse

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates libssl3 && rm -rf /var/lib/apt/lists/* \
    && useradd --system --create-home --home-dir /data gatehouse
COPY --from=build /src/target/release/gatehouse /usr/local/bin/gatehouse
USER gatehouse
WORKDIR /data
ENV BIND_ADDR=0.0.0.0:8080
EXPOSE 8080
CMD ["gatehouse", "serve"]
