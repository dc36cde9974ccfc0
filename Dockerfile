# Build: docker build -t rrproxy .
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -tags nodemo -o /rrproxy ./cmd/rrproxy

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /rrproxy /rrproxy
USER nonroot
EXPOSE 3307
ENTRYPOINT ["/rrproxy"]
CMD ["serve", "-config", "/etc/rrproxy/rrproxy.yaml"]
