package entrypage

import (
	"context"
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

type outcomeKey struct{}

// track returns r carrying a fresh outcome, and w recording the status into it.
func track(w http.ResponseWriter, r *http.Request) (http.ResponseWriter, *http.Request, *outcome) {
	o := &outcome{}
	return &statusWriter{ResponseWriter: w, o: o}, r.WithContext(context.WithValue(r.Context(), outcomeKey{}, o)), o
}

// noteReason records a message page's reason in r's outcome, if tracked.
func noteReason(r *http.Request, reason string) {
	if o, ok := r.Context().Value(outcomeKey{}).(*outcome); ok {
		o.reason = reason
	}
}

type statusWriter struct {
	http.ResponseWriter
	o *outcome
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
