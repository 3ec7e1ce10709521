# syntax=docker/dockerfile:1
# Build a static binary, then ship it alone in a distroless image that runs
# as a non-root user. Templates, migrations and static assets are embedded.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/perkbridge .

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/perkbridge /usr/local/bin/perkbridge
USER nonroot:nonroot
ENV PORT=8080
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s CMD ["/usr/local/bin/perkbridge", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/perkbridge"]
CMD ["serve"]
