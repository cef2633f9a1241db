# StarDust: build the release binary, then run it on a slim Debian image.

FROM rust:1-bookworm AS builder
WORKDIR /build
COPY Cargo.toml Cargo.lock ./
COPY src ./src
RUN cargo build --release --locked

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --no-create-home --shell /usr/sbin/nologin stardust
COPY --from=builder /build/target/release/stardust /usr/local/bin/stardust
USER stardust
EXPOSE 3307
ENTRYPOINT ["stardust"]
CMD ["serve", "--config", "/etc/stardust/stardust.toml"]
