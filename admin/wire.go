package admin

import "github.com/guestgate/guestgate/guestlink/export"

// The wire types of the moderator API and of the admin endpoint module
// (admin.api.guestgate, in package caddymodule), defined once for the
// handlers that write them and for the clients, such as the caddy guestgate
// command, that read them. RoomJSON, LinkJSON and GuestJSON are beside the
// handlers that make them. docs/DESIGN.md section 3 fixes the API's names;
// clients rely on every name here.

// EndpointPrefix is the path under which the admin endpoint module serves on
// Caddy's admin endpoint (localhost:2019 by default): the moderator API under
// EndpointPrefix+"api/", and "stores", "backup", "restore", "export" and
// "import".
const EndpointPrefix = "/guestgate/"

// ErrorJSON is the body of every error answer of the API and of the admin
// endpoint module: {"error": {"code": "...", "message": "...", "field": "...",
// "fields": [{"field": "...", "message": "..."}, ...]}}.
type ErrorJSON struct {
	Error APIError `json:"error"`
}

// APIError is one error answer: Code is for programs ("room_not_found",
// "link_limit", ...; the status says its class), Message for people, and
// Field names the request field at fault, when one is. Fields lists every
// field at fault with its own message, in the order of the request's fields,
// whenever Field is set; Field is the first of them, and Message says them
// all.
type APIError struct {
	Code    string       `json:"code"`
	Message string       `json:"message"`
	Field   string       `json:"field,omitempty"`
	Fields  []FieldError `json:"fields,omitempty"`
}

// FieldError is one request field at fault and what is wrong with it.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// AdmitAllJSON is the answer of POST /api/rooms/{room}/lobby/admit-all.
type AdmitAllJSON struct {
	Admitted []GuestJSON `json:"admitted"`
	Count    int         `json:"count"`
}

// GuestPageJSON is a page of the guest list (GET /api/rooms/{room}/guests);
// NextCursor is "" on the last page.
type GuestPageJSON struct {
	Guests     []GuestJSON `json:"guests"`
	NextCursor string      `json:"next_cursor"`
}

// StoresJSON is the admin endpoint's answer of GET /guestgate/stores: the
// stores the running handlers have open.
type StoresJSON struct {
	Stores []StoreJSON `json:"stores"`
}

// StoreJSON is a store in use: its directory (the pool key), and the settings
// of the newest guest_admin handler on it, if there is one.
type StoreJSON struct {
	Store      string `json:"store"`
	GuestAdmin bool   `json:"guest_admin"`
	LinkBase   string `json:"link_base,omitempty"`
	MaxLinks   int    `json:"max_links"`
}

// RestoreJSON is the admin endpoint's answer to a successful restore (POST
// /guestgate/restore).
type RestoreJSON struct {
	Store    string `json:"store"`
	Restored bool   `json:"restored"`
	// ReloadRequired: the running handlers loaded their secrets (session
	// signing key, ...) at start-up and keep them until a config reload.
	ReloadRequired bool   `json:"reload_required"`
	Message        string `json:"message"`
}

// ImportJSON is the admin endpoint's answer to a successful import (POST
// /guestgate/import): what the store now holds.
type ImportJSON struct {
	Store    string        `json:"store"`
	Imported export.Counts `json:"imported"`
	// ReloadRequired: as for RestoreJSON; on a database that several
	// instances share, every instance's.
	ReloadRequired bool   `json:"reload_required"`
	Message        string `json:"message"`
}
