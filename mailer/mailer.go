// Package mailer sends email through an SMTP server, for guestgate's
// invitation emails (docs/DESIGN.md section 8): one message at a time, each
// on its own connection, with a plain text part and an HTML alternative. It
// wraps github.com/wneessen/go-mail and knows nothing of Caddy, of HTTP or of
// what the messages say.
package mailer

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// The TLS modes of Config.TLS.
const (
	// TLSStartTLS connects in plain text and requires the server to offer
	// STARTTLS before anything is sent (RFC 3207); the default, usually on
	// port 587.
	TLSStartTLS = "starttls"
	// TLSImplicit speaks TLS from the first byte (RFC 8314), usually on
	// port 465.
	TLSImplicit = "implicit"
	// TLSNone never encrypts; allowed only for a server on this machine
	// (a loopback address or "localhost"), such as a local relay.
	TLSNone = "none"
)

// DefaultTimeout bounds connecting to the server and each exchange with it.
const DefaultTimeout = 15 * time.Second

// defaultPorts are the ports of a Server given without one, by TLS mode.
var defaultPorts = map[string]int{TLSStartTLS: 587, TLSImplicit: 465, TLSNone: 25}

// Config says how to reach the SMTP server.
type Config struct {
	// Server is the SMTP server, "host:port" or "host" (then the port is 587
	// for starttls, 465 for implicit and 25 for none). Required.
	Server string
	// TLS is TLSStartTLS (the default, for ""), TLSImplicit or TLSNone.
	TLS string
	// From is the sender, an address with an optional display name:
	// "rooms@example.com" or "Guest access <rooms@example.com>". Required.
	From string
	// Username and Password authenticate to the server (SMTP AUTH, the best
	// mechanism the server offers); both or neither. Password is never part
	// of an error.
	Username, Password string
	// Timeout bounds connecting and each exchange with the server. Default:
	// DefaultTimeout.
	Timeout time.Duration
	// RootCAs are the certificate authorities trusted for the server's
	// certificate. Default (nil): the system's. For tests and embedders;
	// guest_admin's configuration does not expose it.
	RootCAs *x509.CertPool
}

// Message is one email to one recipient.
type Message struct {
	// To is the recipient's bare address.
	To string
	// Subject is the subject line, in any language (encoded as needed).
	Subject string
	// Text is the plain text part; HTML, if not empty, its HTML alternative.
	Text, HTML string
	// Language is the message's language tag ("de"), sent as
	// Content-Language; "" for none.
	Language string
}

// Mailer sends messages as Config says. It is safe for concurrent use.
type Mailer struct {
	host    string
	port    int
	mode    string
	from    *mail.Address
	user    string
	pass    string
	timeout time.Duration
	roots   *x509.CertPool
}

// New checks c and returns its Mailer. It does not connect.
func New(c Config) (*Mailer, error) {
	m := &Mailer{mode: c.TLS, user: c.Username, pass: c.Password, timeout: c.Timeout, roots: c.RootCAs}
	if m.mode == "" {
		m.mode = TLSStartTLS
	}
	if _, ok := defaultPorts[m.mode]; !ok {
		return nil, fmt.Errorf("tls: must be %q, %q or %q, got %q", TLSStartTLS, TLSImplicit, TLSNone, c.TLS)
	}
	var err error
	if m.host, m.port, err = splitServer(c.Server, defaultPorts[m.mode]); err != nil {
		return nil, err
	}
	if m.mode == TLSNone && !IsLoopback(m.host) {
		return nil, fmt.Errorf("tls none: only for a server on this machine (localhost or a loopback address), not %q: "+
			"the invitation links and the credentials would cross the network unencrypted", m.host)
	}
	if m.from, err = ParseFrom(c.From); err != nil {
		return nil, err
	}
	if (m.user == "") != (m.pass == "") {
		return nil, errors.New("username and password: give both or neither")
	}
	if m.timeout < 0 {
		return nil, errors.New("timeout: must be positive")
	}
	if m.timeout == 0 {
		m.timeout = DefaultTimeout
	}
	return m, nil
}

// splitServer splits "host[:port]" and checks both.
func splitServer(s string, defaultPort int) (string, int, error) {
	if s == "" {
		return "", 0, errors.New("server: required, as host:port")
	}
	host, portStr, err := net.SplitHostPort(s)
	if err != nil {
		// No port: the whole is the host (an IPv6 address needs brackets
		// with a port, and may go without them alone).
		host, portStr = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]"), strconv.Itoa(defaultPort)
	}
	port, err := strconv.Atoi(portStr)
	if host == "" || strings.ContainsAny(host, " /@") || err != nil || port < 1 || port > 65535 {
		return "", 0, fmt.Errorf("server %q: must be host:port, like smtp.example.com:587", s)
	}
	return host, port, nil
}

// IsLoopback reports whether host, a name or an address, is this machine:
// "localhost" or a loopback address.
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ParseFrom parses a sender as Config.From takes it: one address with an
// optional display name.
func ParseFrom(s string) (*mail.Address, error) {
	if s == "" {
		return nil, errors.New("from: required, an address like rooms@example.com")
	}
	a, err := mail.ParseAddress(s)
	if err != nil {
		return nil, fmt.Errorf("from %q: must be an address, like rooms@example.com or \"Guest access <rooms@example.com>\"", s)
	}
	return a, nil
}

// From returns the sender's address, without its display name.
func (m *Mailer) From() string { return m.from.Address }

// Send delivers msg to the server, which accepted it when Send returns nil.
// ctx bounds the whole exchange, as does the configured timeout each step
// of it. Errors say what failed (connecting, TLS, authentication, the
// server's refusal of the sender, the recipient or the data, with its reply)
// and never hold the password.
func (m *Mailer) Send(ctx context.Context, msg Message) error {
	gm := gomail.NewMsg()
	gm.FromMailAddress(m.from)
	if err := gm.To(msg.To); err != nil {
		return fmt.Errorf("recipient %q: %w", msg.To, err)
	}
	gm.Subject(msg.Subject)
	gm.SetDate()
	gm.SetMessageID()
	if msg.Language != "" {
		gm.SetGenHeader(gomail.HeaderContentLang, msg.Language)
	}
	gm.SetBodyString(gomail.TypeTextPlain, msg.Text)
	if msg.HTML != "" {
		gm.AddAlternativeString(gomail.TypeTextHTML, msg.HTML)
	}
	c, err := gomail.NewClient(m.host, m.options()...)
	if err != nil {
		return fmt.Errorf("smtp client: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 2*m.timeout)
	defer cancel()
	if err := c.DialAndSendWithContext(ctx, gm); err != nil {
		return m.redact(err)
	}
	return nil
}

func (m *Mailer) options() []gomail.Option {
	opts := []gomail.Option{
		gomail.WithPort(m.port),
		gomail.WithTimeout(m.timeout),
		gomail.WithTLSConfig(&tls.Config{ServerName: m.host, RootCAs: m.roots, MinVersion: tls.VersionTLS12}),
	}
	switch m.mode {
	case TLSImplicit:
		opts = append(opts, gomail.WithSSL())
	case TLSNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	}
	if m.user != "" {
		auth := gomail.SMTPAuthAutoDiscover
		if m.mode == TLSNone {
			// Loopback only (New): PLAIN without TLS does not leave the
			// machine.
			auth = gomail.SMTPAuthPlainNoEnc
		}
		opts = append(opts, gomail.WithSMTPAuth(auth), gomail.WithUsername(m.user), gomail.WithPassword(m.pass))
	}
	return opts
}

// redact returns err with the password, should a library or server ever
// echo it, replaced.
func (m *Mailer) redact(err error) error {
	if m.pass == "" || !strings.Contains(err.Error(), m.pass) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), m.pass, "[password]"))
}

// Summary says in one line, for the person who asked for the message, why
// Send failed: which step the server refused, with its reply code, or that
// the server could not be reached or would not let the mailer in. It holds
// neither the server's address nor its reply text, which are for the log
// (err itself).
func Summary(err error) string {
	var se *gomail.SendError
	if !errors.As(err, &se) || se.ErrorCode() == 0 {
		return "the mail server could not be reached, or the connection, TLS or authentication failed"
	}
	what := "the message"
	switch se.Reason {
	case gomail.ErrSMTPMailFrom:
		what = "the sender"
	case gomail.ErrSMTPRcptTo:
		what = "the recipient"
	}
	code := strconv.Itoa(se.ErrorCode())
	if esc := se.EnhancedStatusCode(); esc != "" {
		code += " " + esc
	}
	if se.IsTemp() {
		return "the mail server refused " + what + " for now (" + code + "); try again later"
	}
	return "the mail server refused " + what + " (" + code + ")"
}
