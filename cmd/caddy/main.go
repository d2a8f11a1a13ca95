// Command caddy is Caddy with its standard modules and the guestgate handlers
// (http.handlers.guest_gateway and http.handlers.guest_admin).
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/guestgate/guestgate/caddymodule"
)

func main() {
	caddycmd.Main()
}
