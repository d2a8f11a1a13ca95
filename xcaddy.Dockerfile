# Caddy with guestgate, built with xcaddy from this checkout:
#
#     docker build -f xcaddy.Dockerfile -t caddy-guestgate .
#
FROM caddy:2.11.9-builder AS builder
COPY . /src
RUN xcaddy build v2.11.9 --with github.com/guestgate/guestgate=/src

FROM caddy:2.11.9
COPY --from=builder /usr/bin/caddy /usr/bin/caddy
