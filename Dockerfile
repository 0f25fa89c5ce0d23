# syntax=docker/dockerfile:1
# Build: docker build -t scim-sidecar .
# The binary links only libc (no libpq), so the runtime image is Debian slim plus the binary.
#
# The base images are build arguments, for a mirror or a registry of your own
# (--build-arg RUNTIME_IMAGE=registry.example.com/debian:bookworm-slim). BINARY_FROM names
# where the binary comes from: the `build` stage below, or an image that holds a binary built
# elsewhere at /src/target/release/scim-sidecar (.ci/container-check uses the host's release
# build this way, in seconds instead of minutes).
ARG BUILDER_IMAGE=rust:1-slim-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim
ARG BINARY_FROM=build

FROM ${BUILDER_IMAGE} AS build
WORKDIR /src
# Dependencies first, so source edits do not rebuild them.
COPY Cargo.toml Cargo.lock ./
RUN mkdir src && echo 'fn main() {}' > src/main.rs && touch src/lib.rs \
    && cargo build --release --locked \
    && rm -rf src
COPY src ./src
COPY migrations ./migrations
COPY config ./config
# Without the `dev` feature nothing from tests/ is built in: no fixture, no `demo`.
RUN touch src/main.rs src/lib.rs && cargo build --release --locked

FROM ${BINARY_FROM} AS binary

FROM ${RUNTIME_IMAGE}
# uid and gid 10001, as USER below and the deployment examples say (a bare `useradd --system`
# would put the user in a system group, 999).
RUN groupadd --system --gid 10001 scim \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin scim
COPY --from=binary /src/target/release/scim-sidecar /usr/local/bin/scim-sidecar
COPY config /app/config
WORKDIR /app
# The service writes no files: it runs with a read-only root file system.
ENV SCIM_ENV=production \
    SCIM_LISTEN=0.0.0.0:8080
USER 10001:10001
# 8080: SCIM; 9464: Prometheus /metrics (SCIM_METRICS_LISTEN, `off` to disable).
EXPOSE 8080 9464
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/scim-sidecar", "health"]
ENTRYPOINT ["/usr/local/bin/scim-sidecar"]
CMD ["serve"]
