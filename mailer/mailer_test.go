package mailer_test

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/guestgate/guestgate/internal/smtptest"
	"github.com/guestgate/guestgate/mailer"
)

// TestNew protects the configuration's checks: a server address with a
// port or the TLS mode's default one, the three TLS modes and none only on
// this machine (links and credentials never cross a network in the clear),
// a sender with an optional display name, and credentials in pairs. An
// error never holds the password.
func TestNew(t *testing.T) {
	const pass = "s3cret-password"
	for _, tc := range []struct {
		name    string
		c       mailer.Config
		wantErr string
	}{
		{"starttls default", mailer.Config{Server: "smtp.example.com:587", From: "rooms@example.com"}, ""},
		{"host without port", mailer.Config{Server: "smtp.example.com", From: "rooms@example.com"}, ""},
		{"implicit", mailer.Config{Server: "smtp.example.com:465", TLS: "implicit", From: "Guest access <rooms@example.com>"}, ""},
		{"none on loopback", mailer.Config{Server: "127.0.0.1:25", TLS: "none", From: "rooms@example.com"}, ""},
		{"none on localhost", mailer.Config{Server: "localhost", TLS: "none", From: "rooms@example.com"}, ""},
		{"none on ::1", mailer.Config{Server: "[::1]:2525", TLS: "none", From: "rooms@example.com"}, ""},
		{"none elsewhere", mailer.Config{Server: "smtp.example.com:25", TLS: "none", From: "rooms@example.com"}, `tls none: only for a server on this machine (localhost or a loopback address), not "smtp.example.com"`},
		{"unknown tls", mailer.Config{Server: "smtp.example.com:25", TLS: "ssl", From: "rooms@example.com"}, `tls: must be "starttls", "implicit" or "none", got "ssl"`},
		{"no server", mailer.Config{From: "rooms@example.com"}, "server: required"},
		{"bad port", mailer.Config{Server: "smtp.example.com:smtp", From: "rooms@example.com"}, `server "smtp.example.com:smtp": must be host:port`},
		{"port out of range", mailer.Config{Server: "smtp.example.com:70000", From: "rooms@example.com"}, "must be host:port"},
		{"url, not an address", mailer.Config{Server: "smtp://smtp.example.com", From: "rooms@example.com"}, "must be host:port"},
		{"no from", mailer.Config{Server: "smtp.example.com:587"}, "from: required, an address like rooms@example.com"},
		{"two senders", mailer.Config{Server: "smtp.example.com:587", From: "a@example.com, b@example.com"}, "from"},
		{"password without username", mailer.Config{Server: "smtp.example.com:587", From: "rooms@example.com", Password: pass}, "username and password: give both or neither"},
		{"username without password", mailer.Config{Server: "smtp.example.com:587", From: "rooms@example.com", Username: "rooms"}, "username and password: give both or neither"},
		{"negative timeout", mailer.Config{Server: "smtp.example.com:587", From: "rooms@example.com", Timeout: -1}, "timeout: must be positive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := mailer.New(tc.c)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("New: %v, want an error containing %q", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), pass) {
				t.Fatalf("New: the error holds the password: %v", err)
			}
		})
	}
}

// TestSend delivers a message to a real SMTP server on 127.0.0.1 in each TLS
// mode, with and without credentials, and checks what the server received;
// and it checks that the mailer refuses to go on where it must: STARTTLS
// required but not offered (a starttls mailer never falls back to plain
// text), a certificate it does not trust, the wrong password (whose error
// does not show it), and a server that refuses the recipient or the message;
// Summary tells these apart without the server's words.
func TestSend(t *testing.T) {
	const user, pass = "rooms", "s3cret-password"
	const unreachable = "the mail server could not be reached, or the connection, TLS or authentication failed"
	serverTLS, roots := smtptest.Certificate(t)
	for _, tc := range []struct {
		name    string
		server  smtptest.Options
		c       mailer.Config
		wantErr string // "" for delivered
		summary string // Summary(err)
	}{
		{name: "starttls", server: smtptest.Options{TLS: serverTLS}, c: mailer.Config{RootCAs: roots}},
		{name: "starttls with auth", server: smtptest.Options{TLS: serverTLS, Username: user, Password: pass}, c: mailer.Config{RootCAs: roots, Username: user, Password: pass}},
		{name: "implicit", server: smtptest.Options{TLS: serverTLS, Implicit: true}, c: mailer.Config{TLS: "implicit", RootCAs: roots}},
		{name: "none", c: mailer.Config{TLS: "none"}},
		{name: "none with auth", server: smtptest.Options{Username: user, Password: pass}, c: mailer.Config{TLS: "none", Username: user, Password: pass}},
		{name: "starttls not offered", c: mailer.Config{RootCAs: roots}, wantErr: "STARTTLS", summary: unreachable},
		{name: "untrusted certificate", server: smtptest.Options{TLS: serverTLS}, c: mailer.Config{}, wantErr: "certificate", summary: unreachable},
		{name: "untrusted certificate, implicit", server: smtptest.Options{TLS: serverTLS, Implicit: true}, c: mailer.Config{TLS: "implicit"}, wantErr: "certificate", summary: unreachable},
		{name: "wrong password", server: smtptest.Options{TLS: serverTLS, Username: user, Password: pass}, c: mailer.Config{RootCAs: roots, Username: user, Password: "not-" + pass}, wantErr: "535", summary: unreachable},
		{name: "recipient refused", server: smtptest.Options{RefuseRcpt: true}, c: mailer.Config{TLS: "none"}, wantErr: "550", summary: "the mail server refused the recipient (550 5.1.1)"},
		{name: "data refused", server: smtptest.Options{RefuseData: true}, c: mailer.Config{TLS: "none"}, wantErr: "554", summary: "the mail server refused the message (554 5.7.1)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := smtptest.Start(t, tc.server)
			c := tc.c
			c.Server, c.From = srv.Addr, "Guest access <rooms@example.com>"
			m, err := mailer.New(c)
			if err != nil {
				t.Fatal(err)
			}
			msg := mailer.Message{To: "ada@example.org", Subject: "Einladung zu „Räume“", Text: "Hallo Ada\n", HTML: "<p>Hallo Ada</p>", Language: "de"}
			err = m.Send(context.Background(), msg)
			got := srv.Messages()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Send: %v, want an error containing %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), pass) {
					t.Fatalf("Send: the error holds the password: %v", err)
				}
				if sum := mailer.Summary(err); sum != tc.summary {
					t.Errorf("Summary: %q, want %q", sum, tc.summary)
				}
				if len(got) != 0 {
					t.Fatalf("the server kept %d messages, want none", len(got))
				}
				return
			}
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			if len(got) != 1 {
				t.Fatalf("the server kept %d messages, want 1", len(got))
			}
			if got[0].From != "rooms@example.com" || len(got[0].To) != 1 || got[0].To[0] != "ada@example.org" {
				t.Fatalf("envelope from %q to %q", got[0].From, got[0].To)
			}
			p, err := got[0].Parse()
			if err != nil {
				t.Fatal(err)
			}
			if p.Subject != msg.Subject || p.Text != msg.Text || p.HTML != msg.HTML {
				t.Fatalf("received subject %q, text %q, html %q; want %q, %q, %q", p.Subject, p.Text, p.HTML, msg.Subject, msg.Text, msg.HTML)
			}
			if from := p.Header.Get("From"); from != `"Guest access" <rooms@example.com>` {
				t.Errorf("From: %q", from)
			}
			if lang := p.Header.Get("Content-Language"); lang != "de" {
				t.Errorf("Content-Language: %q", lang)
			}
		})
	}
}

// TestSendUnreachable: a server that does not answer is an error, not a
// hang.
func TestSendUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	m, err := mailer.New(mailer.Config{Server: addr, TLS: "none", From: "rooms@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Send(context.Background(), mailer.Message{To: "ada@example.org", Subject: "s", Text: "t"}); err == nil || !strings.Contains(err.Error(), "dial") {
		t.Fatalf("Send to a closed port: %v, want a dial error", err)
	}
}
