// Package guestgate plugs guestgate's Caddy modules into a Caddy build: the
// http.handlers.guest_gateway and http.handlers.guest_admin handlers, the
// admin.api.guestgate admin endpoint and the "caddy guestgate" command. It is the
// module's root package so that
//
//	xcaddy build --with github.com/guestgate/guestgate
//
// works like for any Caddy plugin; the code lives in package caddymodule.
package guestgate

import (
	// The modules register themselves in their init functions.
	_ "github.com/guestgate/guestgate/caddymodule"
)
