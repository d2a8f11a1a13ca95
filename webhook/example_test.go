package webhook_test

import (
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"go.uber.org/zap"

	"github.com/guestgate/guestgate/guestlink"
	"github.com/guestgate/guestgate/store/badger"
	"github.com/guestgate/guestgate/webhook"
)

// guestgateEvents receives guestgate's webhook deliveries, signed the
// Standard Webhooks way; secret is the webhook's secret in the Caddyfile
// (whsec_ and base64). It trusts no delivery that the Standard Webhooks
// library refuses: a forged or changed one, or one sent more than 5 minutes
// from now (a replay).
func guestgateEvents(secret string) (http.HandlerFunc, error) {
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		return nil, err
	}
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
		if err != nil || wh.Verify(body, r.Header) != nil {
			http.Error(w, "not from guestgate", http.StatusUnauthorized)
			return
		}
		// A delivery may come twice: skip r.Header.Get("webhook-id") if it
		// was seen before.
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
	}, nil
}

func Example() {
	// The webhook's secret, as in the Caddyfile; a real receiver reads it
	// from its environment.
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	events, err := guestgateEvents(secret)
	if err != nil {
		log.Fatal(err)
	}
	handled := make(chan struct{}, 2)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		events(w, r)
		handled <- struct{}{}
	}))
	defer receiver.Close()

	// guestgate's side: a Hub delivers the events of a store to the webhook.
	dir, err := os.MkdirTemp("", "guestgate-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	store, err := badger.Open(dir, badger.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	hub := webhook.NewHub(store, zap.NewNop())
	defer hub.Close()
	reg, err := hub.Register([]webhook.Endpoint{{URL: receiver.URL, Secrets: []string{secret}}})
	if err != nil {
		log.Fatal(err)
	}
	defer hub.Unregister(reg)
	hub.Publish(guestlink.Event{ID: "e_1", Type: guestlink.EventGuestRedeemed, Time: time.Now(), Room: "demo", Actor: "guest"})
	select {
	case <-handled:
	case <-time.After(10 * time.Second):
		fmt.Println("no delivery")
	}

	// A forged delivery.
	forged, err := http.NewRequest(http.MethodPost, receiver.URL, strings.NewReader(`{"id":"e_2","type":"access.off","room":"demo"}`))
	if err != nil {
		log.Fatal(err)
	}
	forged.Header.Set("webhook-id", "e_2")
	forged.Header.Set("webhook-timestamp", strconv.FormatInt(time.Now().Unix(), 10))
	forged.Header.Set("webhook-signature", "v1,Zm9yZ2VkIHNpZ25hdHVyZQ==")
	resp, err := http.DefaultClient.Do(forged)
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	fmt.Println("forged:", resp.StatusCode)
	// Output:
	// event guest.redeemed in room demo
	// forged: 401
}
