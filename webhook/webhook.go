// Package webhook delivers guestgate's events to webhook endpoints, signed
// the Standard Webhooks way (https://www.standardwebhooks.com), so that
// receivers check them with that project's libraries, which exist for many
// languages.
//
// A Hub takes the events of the Services on one store (Hub.Publish is their
// event hook), queues each, durably, for every endpoint that wants it, in the
// store's queues (guestlink.Queuer), and delivers from those queues in the
// background: one signed JSON POST per event, retried with backoff until the
// endpoint answers 2xx. The package's Example is a receiver that checks a
// real delivery with the Standard Webhooks library for Go; the README's
// webhook section shows it.
//
// The wire format, which receivers rely on: the body is the JSON of a
// guestlink.Event (without guest_name and guest_email unless the endpoint
// wants them); the headers are HeaderID (the event id, the same on every
// retry), HeaderTimestamp (when the attempt was sent, Unix seconds),
// HeaderSignature (Sign of the body with every secret of the endpoint) and
// HeaderEvent (the event type, a convenience outside the signature).
package webhook

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/guestgate/guestgate/guestlink"
)

// Headers of a delivery: the three of Standard Webhooks, and the event type.
const (
	HeaderID        = standardwebhooks.HeaderWebhookID        // "webhook-id"
	HeaderTimestamp = standardwebhooks.HeaderWebhookTimestamp // "webhook-timestamp"
	HeaderSignature = standardwebhooks.HeaderWebhookSignature // "webhook-signature"
	HeaderEvent     = "X-Guestgate-Event"
)

// SecretPrefix starts every secret: a secret is written "whsec_" and the
// standard (padded) base64 of its bytes, the form the Standard Webhooks
// libraries take.
const SecretPrefix = "whsec_"

// MinSecretLen is the fewest bytes a secret may have once decoded: 24, the
// least the Standard Webhooks specification recommends (it recommends 24 to
// 64; a longer secret is accepted, HMAC-SHA256 hashes it to 32 bytes).
const MinSecretLen = 24

// secretHowTo ends every error about a secret's form: what to write, and
// how to make one (24 is MinSecretLen).
const secretHowTo = "must be whsec_ followed by base64, at least 24 bytes decoded; make one with: echo whsec_$(head -c 32 /dev/urandom | base64)"

// CheckSecret refuses a secret not written SecretPrefix and the standard
// base64 of at least MinSecretLen bytes, saying how to write one. The error
// never holds the secret.
func CheckSecret(secret string) error {
	enc, ok := strings.CutPrefix(secret, SecretPrefix)
	if !ok {
		// A plain-text secret was the form of earlier versions, which signed
		// with it in a header of their own.
		return fmt.Errorf("%s (a plain-text secret no longer works: deliveries are signed the Standard Webhooks way; give the receiver the new secret too)", secretHowTo)
	}
	key, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		return fmt.Errorf("%s (what follows whsec_ is not base64)", secretHowTo)
	}
	if len(key) < MinSecretLen {
		return fmt.Errorf("%s (got %d bytes)", secretHowTo, len(key))
	}
	return nil
}

// Sign returns the HeaderSignature value of a delivery of body with id (the
// HeaderID) sent at t (the HeaderTimestamp, in whole seconds): for each of
// secrets, in order, "v1," and the base64 HMAC-SHA256 of
// "<id>.<unix seconds>.<body>" with the secret's bytes, the signatures
// separated by spaces. The Standard Webhooks library signs each; several
// secrets sign while a secret is rotated, so that a receiver checking with
// either accepts the delivery. Every secret must pass CheckSecret.
func Sign(secrets []string, id string, t time.Time, body []byte) (string, error) {
	signers, err := newSigners(secrets)
	if err != nil {
		return "", err
	}
	return signers.sign(id, t, body)
}

// signers are the Standard Webhooks signers of an endpoint's secrets.
type signers []*standardwebhooks.Webhook

// newSigners makes the signers of secrets, refusing one CheckSecret refuses.
func newSigners(secrets []string) (signers, error) {
	if len(secrets) == 0 {
		return nil, fmt.Errorf("no secret; a secret %s", secretHowTo)
	}
	var ss signers
	for i, s := range secrets {
		if err := CheckSecret(s); err != nil {
			if len(secrets) > 1 {
				return nil, fmt.Errorf("secret %d %w", i+1, err)
			}
			return nil, fmt.Errorf("secret %w", err)
		}
		wh, err := standardwebhooks.NewWebhook(s)
		if err != nil {
			return nil, fmt.Errorf("secret: %w", err)
		}
		ss = append(ss, wh)
	}
	return ss, nil
}

// sign is Sign with ss's secrets.
func (ss signers) sign(id string, t time.Time, body []byte) (string, error) {
	sigs := make([]string, 0, len(ss))
	for _, wh := range ss {
		sig, err := wh.Sign(id, t, body)
		if err != nil {
			return "", err
		}
		sigs = append(sigs, sig)
	}
	return strings.Join(sigs, " "), nil
}

// Endpoint is one receiver of events.
type Endpoint struct {
	// URL receives the events: an absolute http or https URL (CheckURL).
	// Redirects are not followed.
	URL string
	// Secrets sign the deliveries, each written as CheckSecret wants; at
	// least one. Every delivery is signed with each (see Sign): two while a
	// secret is rotated.
	Secrets []string
	// Events are the event types delivered (guestlink.EventTypes); empty
	// means every type.
	Events []string
	// Emails keeps the guest's name and email in the body.
	Emails bool
}

// signers checks ep and makes the signers of its secrets.
func (ep Endpoint) signers() (signers, error) {
	if err := CheckURL(ep.URL); err != nil {
		return nil, err
	}
	ss, err := newSigners(ep.Secrets)
	if err != nil {
		return nil, fmt.Errorf("webhook %s: %w", RedactURL(ep.URL), err)
	}
	if err := CheckEvents(ep.URL, ep.Events); err != nil {
		return nil, err
	}
	return ss, nil
}

// CheckURL refuses anything but an absolute http or https URL, naming it by
// RedactURL: a misspelt scheme ("htps://user:password@...") must not put
// the credentials the URL holds into Caddy's log.
func CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("webhook %q: must be an absolute http or https URL", RedactURL(raw))
	}
	return nil
}

// CheckEvents refuses an event type of the endpoint at rawURL that is not in
// guestlink.EventTypes, naming it.
func CheckEvents(rawURL string, events []string) error {
	for _, e := range events {
		if !slices.Contains(guestlink.EventTypes, e) {
			return fmt.Errorf("webhook %s: unknown event type %q; known: %s", RedactURL(rawURL), e, strings.Join(guestlink.EventTypes, ", "))
		}
	}
	return nil
}

// RedactURL is u for errors about the configuration: without user info,
// query and fragment, which may carry credentials. The delivery logs use
// LogURL, which leaves out the path too.
func RedactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparsable URL)"
	}
	p.User, p.RawQuery, p.ForceQuery, p.Fragment, p.RawFragment = nil, "", false, "", ""
	if p.Opaque != "" {
		// A URL without "//" after its scheme keeps the rest opaque: in
		// "user:password@host/x", written without "https://", the scheme
		// is the user name and the opaque rest starts with the password.
		p.Opaque = "…"
	}
	return p.String()
}

// LogURL is u for the delivery logs: its scheme and host, and in place of
// the rest, whose path may itself be the secret (the "catch hook" URLs of
// automation services), the name of the endpoint's queue (queueName), which
// tells two endpoints of one host apart and is the queue an export lists:
// "https://hooks.example.com/… (wh-1a2b3c4d5e6f7a8b)". Errors about the
// configuration, which the operator reads beside their own file, name the
// endpoint by RedactURL.
func LogURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparsable URL)"
	}
	return (&url.URL{Scheme: p.Scheme, Host: p.Host}).String() + "/… (" + queueName(u) + ")"
}

// queueName is the name of the queue of the endpoint at u: "wh-" and the
// first 8 bytes of the SHA-256 of the URL, in hex.
func queueName(u string) string {
	sum := sha256.Sum256([]byte(u))
	return "wh-" + hex.EncodeToString(sum[:8])
}
