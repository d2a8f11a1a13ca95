// Package webhook delivers guestgate's events to webhook endpoints and lets
// their receivers check a delivery.
//
// A Hub takes the events of the Services on one store (Hub.Publish is their
// event hook), queues each, durably, for every endpoint that wants it, in the
// store's queues (guestlink.Queuer), and delivers from those queues in the
// background: one signed JSON POST per event, retried with backoff until the
// endpoint answers 2xx. Verify is the check a receiver makes before it trusts
// a delivery; the README's webhook section shows it (see ExampleVerify).
//
// The wire format, which receivers rely on: the body is the JSON of a
// guestlink.Event (without guest_name and guest_email unless the endpoint
// wants them); the headers are HeaderEvent (the event type), HeaderDelivery
// (the event id, the same on every retry), HeaderTimestamp (when the attempt
// was sent, Unix seconds) and HeaderSignature (Sign of the body at that
// timestamp).
package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/guestgate/guestgate/guestlink"
)

// Headers of a delivery.
const (
	HeaderTimestamp = "X-Guestgate-Timestamp"
	HeaderEvent     = "X-Guestgate-Event"
	HeaderDelivery  = "X-Guestgate-Delivery"
	HeaderSignature = "X-Guestgate-Signature"
)

// MinSecretLen is the shortest secret of an endpoint, in bytes.
const MinSecretLen = 16

// MaxAge is how far a delivery's timestamp may be from the receiver's clock
// for Verify to accept it, either way: older deliveries may be replays.
const MaxAge = 5 * time.Minute

// Errors of Verify.
var (
	ErrTimestamp = errors.New("webhook: no valid timestamp, or one more than 5 minutes from now")
	ErrSignature = errors.New("webhook: bad signature")
)

// Sign returns the HeaderSignature value of body sent at timestamp (Unix
// seconds, as in HeaderTimestamp): "sha256=" and the hex HMAC-SHA256 of
// "<timestamp>.<body>" with secret.
func Sign(secret []byte, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(timestamp))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Verify checks a delivery with the endpoint's secret: its HeaderSignature
// must be Sign of body at its HeaderTimestamp, and that timestamp within
// MaxAge of now. It returns ErrTimestamp or ErrSignature when the delivery is
// not to be trusted. Receivers should also drop a delivery whose
// HeaderDelivery they have seen before: delivery is at least once.
func Verify(secret []byte, header http.Header, body []byte, now time.Time) error {
	ts := header.Get(HeaderTimestamp)
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return ErrTimestamp
	}
	if age := now.Sub(time.Unix(sec, 0)); age > MaxAge || age < -MaxAge {
		return ErrTimestamp
	}
	if !hmac.Equal([]byte(header.Get(HeaderSignature)), []byte(Sign(secret, ts, body))) {
		return ErrSignature
	}
	return nil
}

// Endpoint is one receiver of events.
type Endpoint struct {
	// URL receives the events: an absolute http or https URL (CheckURL).
	// Redirects are not followed.
	URL string
	// Secret signs the deliveries; at least MinSecretLen bytes.
	Secret []byte
	// Events are the event types delivered (guestlink.EventTypes); empty
	// means every type.
	Events []string
	// Emails keeps the guest's name and email in the body.
	Emails bool
}

// check refuses an endpoint the Hub cannot deliver to.
func (ep Endpoint) check() error {
	if err := CheckURL(ep.URL); err != nil {
		return err
	}
	if len(ep.Secret) < MinSecretLen {
		return fmt.Errorf("webhook %s: secret must be at least %d bytes", RedactURL(ep.URL), MinSecretLen)
	}
	return CheckEvents(ep.URL, ep.Events)
}

// CheckURL refuses anything but an absolute http or https URL.
func CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("webhook %q: must be an absolute http or https URL", raw)
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

// RedactURL is u for logs and errors: without user info, query and fragment,
// which may carry credentials.
func RedactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparsable URL)"
	}
	p.User, p.RawQuery, p.ForceQuery, p.Fragment, p.RawFragment = nil, "", false, "", ""
	return p.String()
}

// queueName is the name of the queue of the endpoint at u: "wh-" and the
// first 8 bytes of the SHA-256 of the URL, in hex.
func queueName(u string) string {
	sum := sha256.Sum256([]byte(u))
	return "wh-" + hex.EncodeToString(sum[:8])
}
