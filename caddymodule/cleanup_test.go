package caddymodule

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"

	"github.com/guestgate/guestgate/caddymodule/stores"
	"github.com/guestgate/guestgate/guestlink"
	badgerstore "github.com/guestgate/guestgate/store/badger"
)

// TestCleanupAfterFailedProvision: Caddy calls Cleanup on a handler whose
// Provision failed, at whatever point it failed. Cleanup must then give back
// exactly what Provision took: the store (and its webhook hub) leaves the pool
// and Badger's directory lock is released, so that the next config can open it;
// webhooks registered before the failure are taken away.
func TestCleanupAfterFailedProvision(t *testing.T) {
	type provisioned interface {
		caddy.Provisioner
		caddy.CleanerUpper
	}
	const key16 = "an-api-key-0123456789"
	const webhookSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	for _, tc := range []struct {
		name    string
		handler func(dir string) provisioned
		wantErr string
	}{
		{"gateway: short signing key, after the store is open", func(dir string) provisioned {
			return &Gateway{StoreRaw: dirStore(dir), SigningKeys: []string{"short"}}
		}, "signing_key 1: must be at least 32 bytes after placeholders are resolved, got 5"},
		{"gateway: bad identity key, after the store is open", func(dir string) provisioned {
			return &Gateway{StoreRaw: dirStore(dir), IdentityKey: "not base64"}
		}, "identity_key: must be the base64 of 32 bytes"},
		{"admin: short API key, before the store is open", func(dir string) provisioned {
			return &Admin{StoreRaw: dirStore(dir), APIKeys: []string{"short"}}
		}, "api_key 1: must be at least 16 characters after placeholders are resolved, got 5"},
		{"admin: short webhook secret, before the store is open", func(dir string) provisioned {
			return &Admin{StoreRaw: dirStore(dir), APIKeys: []string{key16}, Webhooks: []Webhook{{URL: "https://h/x", Secrets: []string{"whsec_c2hvcnQ="}}}}
		}, "webhook https://h/x: secret must be whsec_ followed by base64, at least 24 bytes decoded"},
		{"admin: email password empty after placeholders, before the store is open", func(dir string) provisioned {
			return &Admin{StoreRaw: dirStore(dir), APIKeys: []string{key16}, LinkBase: "https://rooms.example.com/guest/",
				Email: &Email{Server: "smtp.example.com:587", From: "rooms@example.com", Username: "rooms", Password: "{env.GUESTGATE_TEST_UNSET_PASSWORD}"}}
		}, "email: username and password must not be empty after placeholders are resolved"},
		{"admin: bad room, after webhooks are registered", func(dir string) provisioned {
			return &Admin{StoreRaw: dirStore(dir), APIKeys: []string{key16}, Webhooks: []Webhook{{URL: "https://h/x", Secrets: []string{webhookSecret}}},
				Rooms: []RoomConfig{{ID: "demo", Name: strings.Repeat("x", guestlink.MaxRoomNameLen+1)}}}
		}, `room "demo": `},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "store")
			ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
			defer cancel()
			h := tc.handler(dir)
			err := h.Provision(ctx)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Provision = %v, want an error containing %q", err, tc.wantErr)
			}
			if err := h.Cleanup(); err != nil {
				t.Fatalf("Cleanup after the failed Provision: %v", err)
			}
			if keys := stores.Keys(); len(keys) != 0 {
				t.Fatalf("stores still pooled after Cleanup: %v", keys)
			}
			s, err := badgerstore.Open(dir, badgerstore.Options{})
			if err != nil {
				t.Fatalf("the store directory is still locked after Cleanup: %v", err)
			}
			s.Close()
		})
	}
}

// dirStore is the JSON of a Badger store in dir, as a handler's StoreRaw.
func dirStore(dir string) json.RawMessage {
	b, _ := json.Marshal(dir)
	return b
}
