package caddymodule

import (
	"errors"
	"fmt"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/guestgate/guestgate/internal/caddyconf"
	"github.com/guestgate/guestgate/mailer"
)

// Email is guest_admin's SMTP server for invitation emails (the email
// block): with it, "send_email": true on POST .../invitations sends the
// invitee their link (docs/DESIGN.md section 8); without it, such a request
// is refused with 422. It needs guest_admin's link_base: the links it mails
// never take their host from a request's Host header.
type Email struct {
	// Server is the SMTP server, "host:port"; without a port, 587 for
	// starttls, 465 for implicit and 25 for none. Required.
	Server string `json:"server"`

	// TLS is how the connection is encrypted: "starttls" (the server must
	// offer STARTTLS; never a fall back to plain text), "implicit" (TLS from
	// the first byte) or "none", allowed only for a server on this machine
	// (localhost or a loopback address). The server's certificate is checked
	// against the system's roots. Default: starttls.
	TLS string `json:"tls,omitempty"`

	// From is the sender, an address with an optional display name:
	// "rooms@example.com" or "Guest access <rooms@example.com>". Required.
	From string `json:"from"`

	// Username and Password authenticate to the server (SMTP AUTH, the best
	// mechanism it offers); both or neither. Placeholders ({env.X},
	// {file.path}) are resolved; the password is never logged. Default: no
	// authentication.
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`

	// Timeout bounds connecting to the server and each exchange with it; the
	// API request that sends waits for the message. Default: 15s.
	Timeout caddy.Duration `json:"timeout,omitempty"`

	// PerRoom bounds the invitation emails of one room, whoever asks (the
	// handler counts them from its start or its last reload): past it an
	// invitation is made but not mailed, and its answer says so. Default:
	// 100 per 1h.
	PerRoom *RateBudget `json:"per_room,omitempty"`
}

// config is e as the mailer takes it, with username and password as given
// or, with resolve, their placeholders resolved.
func (e *Email) config(resolve bool) mailer.Config {
	c := mailer.Config{Server: e.Server, TLS: e.TLS, From: e.From, Username: e.Username, Password: e.Password, Timeout: time.Duration(e.Timeout)}
	if resolve {
		c.Username, c.Password = caddyconf.ResolveSecret(c.Username), caddyconf.ResolveSecret(c.Password)
	}
	return c
}

// check holds the pure checks of the email block.
func (e *Email) check() error {
	if _, err := mailer.New(e.config(false)); err != nil {
		return fmt.Errorf("email: %w", err)
	}
	return e.PerRoom.check("email per_room")
}

// mailer returns the mailer of the email block, its credentials' placeholders
// resolved; nil without the block.
func (e *Email) mailer() (*mailer.Mailer, error) {
	if e == nil {
		return nil, nil
	}
	c := e.config(true)
	if e.Username != "" && (c.Username == "" || c.Password == "") {
		// Said without the values: one of them is the password.
		return nil, errors.New("email: username and password must not be empty after placeholders are resolved")
	}
	m, err := mailer.New(c)
	if err != nil {
		return nil, fmt.Errorf("email: %w", err)
	}
	return m, nil
}

// parseEmail reads the email block. What is wrong with the block as a whole
// (no server, tls none for a remote server, a password without a username)
// is said on the block's line.
func (a *Admin) parseEmail(d *caddyfile.Dispenser) error {
	e := new(Email)
	a.Email = e
	return caddyconf.CheckedBlock(d, "email option", map[string]caddyconf.Option{
		"server":   caddyconf.One(&e.Server),
		"tls":      caddyconf.Choice(&e.TLS, "email tls: must be 'starttls', 'implicit' or 'none', got '%s'", mailer.TLSStartTLS, mailer.TLSImplicit, mailer.TLSNone),
		"username": caddyconf.One(&e.Username),
		"password": caddyconf.Secret(&e.Password, "email password: give one value, quoted if it has spaces, or a placeholder like {env.SMTP_PASSWORD}"),
		"timeout":  caddyconf.Duration(&e.Timeout),
		"per_room": budgetOption("email per_room", &e.PerRoom),
		"from": caddyconf.Checked(&e.From, "email", func(f string) error {
			_, err := mailer.ParseFrom(f)
			return err
		}),
	}, e.check)
}
