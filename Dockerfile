# syntax=docker/dockerfile:1
# The image the Helm chart points at: a static-enough release build on Debian bookworm,
# run from distroless (glibc, CA certificates for TLS probes, no shell) as a non-root user.

FROM rust:1-slim-bookworm AS build
WORKDIR /src
# Dependencies first, so a source change does not rebuild them.
COPY Cargo.toml Cargo.lock ./
RUN mkdir src && echo 'fn main() {}' > src/main.rs && touch src/lib.rs \
 && cargo fetch --locked \
 && rm -rf src
COPY build.rs ./
# The runbooks are embedded in the binary (served at /runbooks/<Alert>).
COPY alerts/runbooks ./alerts/runbooks
COPY src ./src
# The git revision for gateway_build_info (the build context has no .git).
ARG GATEWAY_EXPORTER_REVISION=unknown
ENV GATEWAY_EXPORTER_REVISION=${GATEWAY_EXPORTER_REVISION}
RUN cargo build --release --locked --bin gateway-exporter \
 && ./target/release/gateway-exporter --version

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/gateway-exporter /usr/local/bin/gateway-exporter
# 65532 is distroless' "nonroot"; the chart's securityContext uses the same ids.
USER 65532:65532
EXPOSE 10211
ENTRYPOINT ["/usr/local/bin/gateway-exporter"]
