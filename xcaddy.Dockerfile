# Caddy with guestgate, built with xcaddy from this checkout:
#
#     docker build -f xcaddy.Dockerfile -t caddy-guestgate .
#     docker run -p 80:80 -p 443:443 -v caddy-data:/data \
#         -v $PWD/Caddyfile:/etc/caddy/Caddyfile caddy-guestgate
#
# The store defaults to /data/caddy/guestgate (Caddy's data directory, a volume
# in the official image). Manage it from inside the container:
#
#     docker exec <container> caddy guestgate links list demo
#
# .ci/run runs the same xcaddy line (with /src replaced by the checkout) and
# checks 'caddy list-modules', so keep it on one "RUN xcaddy build" line.
#
# v0.0.0-00010101000000-000000000000 is Go's zero pseudo-version. Pinning the
# module to it makes "go get" take the replacement (/src) as that version
# without looking the module up: guestgate is not published, and without a
# version "go get" asks the module proxy for its versions first, which fails.
FROM caddy:2.11.9-builder AS builder
COPY . /src
RUN xcaddy build v2.11.9 --with github.com/guestgate/guestgate@v0.0.0-00010101000000-000000000000=/src

FROM caddy:2.11.9
COPY --from=builder /usr/bin/caddy /usr/bin/caddy
