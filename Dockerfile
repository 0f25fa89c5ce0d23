# syntax=docker/dockerfile:1
# Build: docker build -t scim-sidecar .
# The binary links only libc (no libpq), so the runtime image is Debian slim plus the binary.

FROM rust:1-slim-bookworm AS build
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

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin scim
COPY --from=build /src/target/release/scim-sidecar /usr/local/bin/scim-sidecar
COPY config /app/config
WORKDIR /app
ENV SCIM_ENV=production \
    SCIM_LISTEN=0.0.0.0:8080
USER 10001:10001
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/scim-sidecar", "health"]
ENTRYPOINT ["/usr/local/bin/scim-sidecar"]
CMD ["serve"]
