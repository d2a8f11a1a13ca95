#!/usr/bin/env bash
# Fetches the pinned livekit-client JavaScript SDK from npm into
# site/static/livekit-client.umd.js, checking the package against the
# integrity npm publishes for that version.
set -euo pipefail
cd "$(dirname "$0")"

version=2.23.0
integrity=sha512-j9Kg86nJjBjNFUD+ukp2jwMCGa0k+YD5gU//RzAM+ZY3pbG631QCte7fQjwqWMmtBzhDJL9nKYuOLMv/9IbAxg==

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "livekit-client@$version" >/dev/null)
tgz="$tmp/livekit-client-$version.tgz"
# node comes with npm; openssl may not be installed.
got="sha512-$(node -e 'process.stdout.write(require("crypto").createHash("sha512").update(require("fs").readFileSync(process.argv[1])).digest("base64"))' "$tgz")"
if [ "$got" != "$integrity" ]; then
	echo "livekit-client $version: integrity $got, want $integrity" >&2
	exit 1
fi
tar -xzf "$tgz" -C "$tmp" package/dist/livekit-client.umd.js
cp "$tmp/package/dist/livekit-client.umd.js" site/static/livekit-client.umd.js
echo "site/static/livekit-client.umd.js: livekit-client $version"
