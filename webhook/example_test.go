package webhook_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"time"

	"github.com/guestgate/guestgate/webhook"
)

// guestgateEvents receives guestgate's webhook deliveries. It trusts none
// that webhook.Verify refuses: a forged, changed or replayed delivery.
func guestgateEvents(secret []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
		if err != nil || webhook.Verify(secret, r.Header, body, time.Now()) != nil {
			http.Error(w, "not from guestgate", http.StatusUnauthorized)
			return
		}
		// A delivery may come twice: skip r.Header.Get("X-Guestgate-Delivery")
		// if it was seen before.
		var event struct {
			Type string `json:"type"`
			Room string `json:"room"`
		}
		if err := json.Unmarshal(body, &event); err != nil {
			http.Error(w, "not an event", http.StatusBadRequest)
			return
		}
		fmt.Println("event", event.Type, "in room", event.Room)
		w.WriteHeader(http.StatusNoContent)
	}
}

func ExampleVerify() {
	// The webhook's secret in the Caddyfile; a real receiver reads it from
	// its environment.
	secret := []byte("a-webhook-secret-0123456789")
	events := guestgateEvents(secret)

	// A delivery as guestgate signs it, then the same with a forged signature.
	body := []byte(`{"id":"e_1","type":"guest.redeemed","time":"2026-05-01T12:00:00Z","room":"demo","actor":"guest"}`)
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	for _, signature := range []string{webhook.Sign(secret, ts, body), "sha256=0123"} {
		r := httptest.NewRequest(http.MethodPost, "/guestgate-events", bytes.NewReader(body))
		r.Header.Set("X-Guestgate-Timestamp", ts)
		r.Header.Set("X-Guestgate-Signature", signature)
		w := httptest.NewRecorder()
		events.ServeHTTP(w, r)
		fmt.Println(w.Code)
	}
	// Output:
	// event guest.redeemed in room demo
	// 204
	// 401
}
