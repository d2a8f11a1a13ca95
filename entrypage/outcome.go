package entrypage

import (
	"net/http"
	"time"
)

// Redemption results, as the redemptions metric counts them.
const (
	RedeemOK          = "ok"
	RedeemUsedUp      = "used_up"
	RedeemExpired     = "expired"
	RedeemInvalid     = "invalid"
	RedeemAccessOff   = "access_off"
	RedeemBadInput    = "bad_input"
	RedeemRateLimited = "rate_limited"
	RedeemError       = "error"
)

// Gate results, as the gate decisions metric counts them: "allowed" (sent
// upstream with an identity), "passed" (sent upstream without one, in
// unauthenticated pass mode), "error", or the data-reason of the refusal.
const (
	GateAllowed = "allowed"
	GatePassed  = "passed"
	GateError   = "error"
)

// outcome collects what an entry form post ended in, for metrics: the message
// page's reason and the status.
type outcome struct {
	reason string
	status int
}

// noteReason records a message page's reason in the outcome of w, if w is,
// or wraps, a tracked writer.
func noteReason(w http.ResponseWriter, reason string) {
	for {
		switch t := w.(type) {
		case *statusWriter:
			t.o.reason = reason
			return
		case interface{ Unwrap() http.ResponseWriter }:
			w = t.Unwrap()
		default:
			return
		}
	}
}

// statusWriter records the status of the answer, and noteReason the message
// page's reason, into its outcome.
type statusWriter struct {
	http.ResponseWriter
	o outcome
}

func (w *statusWriter) WriteHeader(code int) {
	if w.o.status == 0 {
		w.o.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.o.status == 0 {
		w.o.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// redeemResult names the result of an entry form post.
func (o *outcome) redeemResult() string {
	switch o.reason {
	case ReasonLinkUsedUp:
		return RedeemUsedUp
	case ReasonLinkExpired:
		return RedeemExpired
	case ReasonLinkInvalid, ReasonRoomUnavailable:
		return RedeemInvalid
	case ReasonGuestAccessOff:
		return RedeemAccessOff
	case ReasonRateLimited:
		return RedeemRateLimited
	}
	switch {
	case o.status == http.StatusSeeOther:
		return RedeemOK
	case o.status >= 500:
		return RedeemError
	}
	return RedeemBadInput
}

// observeRedeem reports a finished entry form post.
func (g *Gateway) observeRedeem(o *outcome, start time.Time) {
	if g.onRedeem != nil {
		g.onRedeem(o.redeemResult(), time.Since(start))
	}
}
