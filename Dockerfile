# syntax=docker/dockerfile:1
# reachmon container image: a static binary (CGO_ENABLED=0) on distroless,
# running as the unprivileged "nonroot" user (uid 65532).
#
#   docker build -t reachmon --build-arg VERSION=$(git describe --always) .
#   docker run --rm -p 127.0.0.1:9798:9798 reachmon
#
# The build context is the repository root; .dockerignore keeps it small.

ARG GO_VERSION=1.26

FROM golang:${GO_VERSION}-alpine AS build
WORKDIR /src
ENV CGO_ENABLED=0 GOFLAGS=-buildvcs=false
COPY go.mod go.sum ./
RUN go mod download
COPY cmd/ ./cmd/
COPY internal/ ./internal/
ARG VERSION=""
RUN go build -trimpath \
        -ldflags "-s -w -X github.com/reachmon/reachmon/internal/version.Version=${VERSION}" \
        -o /out/reachmon ./cmd/reachmon \
    && mkdir -p /out/state

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/reachmon /usr/local/bin/reachmon
COPY config/reachmon.toml /etc/reachmon/reachmon.toml
# The state directory (incidents, notification outbox), owned by nonroot so
# a named volume mounted here starts writable.
COPY --from=build --chown=65532:65532 /out/state /var/lib/reachmon
USER 65532:65532
WORKDIR /var/lib/reachmon
EXPOSE 9798
ENTRYPOINT ["/usr/local/bin/reachmon"]
# state_dir "var" in the shipped config is relative to WORKDIR.
CMD ["run", "--config", "/etc/reachmon/reachmon.toml", "--listen", "0.0.0.0:9798"]
