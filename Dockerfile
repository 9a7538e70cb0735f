# The operator's container image: built with Rust, run on distroless as a
# non-root user (uid 65532, what the Helm chart expects), no shell.
# OpenSSL and libgit2 are compiled into the binary (feature "vendored").
#
#   docker build -t ghcr.io/sitehapair/sitehapair:0.1.0 .
FROM rust:1.91-bookworm AS build
WORKDIR /src
RUN apt-get update && apt-get install -y --no-install-recommends cmake perl make pkg-config \
    && rm -rf /var/lib/apt/lists/*
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY crds ./crds
COPY examples ./examples
COPY benches ./benches
COPY tests ./tests
RUN cargo build --release --locked --features vendored --bin sitehapair \
    && strip target/release/sitehapair

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/sitehapair /usr/local/bin/sitehapair
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/sitehapair"]
CMD ["run"]
