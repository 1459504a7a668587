# Dockerfile — the tempo-adapter image: built on Debian 12 with the -dev packages, shipped on
# bookworm-slim with only the runtime libraries. `make image` runs it with docker or podman.
#
#   docker build -t tempo-adapter:0.1.0 .
#
# The binary is /tempo-adapter and runs as 65532:65532 (non-root, as manifests/ expect, with a
# read-only root file system); it carries the default rules and OpenAPI documents inside.
FROM debian:bookworm-slim AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential pkg-config \
      libmicrohttpd-dev libcurl4-openssl-dev libjansson-dev libssl-dev libyaml-dev \
      libgnutls28-dev zlib1g-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN make -j"$(nproc)" BUILD=build/image BIN=build/image/bin build \
 && strip build/image/bin/tempo-adapter \
 && build/image/bin/tempo-adapter --version

FROM debian:bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libmicrohttpd12 libcurl4 libjansson4 libssl3 libyaml-0-2 libgnutls30 zlib1g \
      ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/build/image/bin/tempo-adapter /tempo-adapter
USER 65532:65532
EXPOSE 6443 4318
ENTRYPOINT ["/tempo-adapter"]
