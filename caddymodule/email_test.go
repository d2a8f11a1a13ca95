package caddymodule

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/guestgate/guestgate/admin"
	"github.com/guestgate/guestgate/internal/smtptest"
)

// TestAdminEmail provisions guest_admin with an email block whose
// credentials come from placeholders, against a real SMTP server on
// 127.0.0.1 that requires them, and creates an invitation with send_email:
// the server receives the message for the invitee and the answer says so.
// When the server refuses the recipient, the invitation is still made, the
// answer says not sent, and one warning is logged that names the invitation
// but holds neither the link's token, nor the password, nor the invitee's
// address.
func TestAdminEmail(t *testing.T) {
	const user, pass = "rooms", "smtp-password-0123456789"
	t.Setenv("GUESTGATE_TEST_SMTP_USER", user)
	t.Setenv("GUESTGATE_TEST_SMTP_PASSWORD", pass)
	for _, tc := range []struct {
		name   string
		refuse bool
	}{
		{name: "accepted"},
		{name: "recipient refused", refuse: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := smtptest.Start(t, smtptest.Options{Username: user, Password: pass, RefuseRcpt: tc.refuse})
			a := &Admin{
				StoreRaw: dirStore(filepath.Join(t.TempDir(), "store")), APIKeys: []string{"an-api-key-0123456789"},
				LinkBase: "https://rooms.example.com/guest/",
				Rooms:    []RoomConfig{{ID: "demo", Name: "Demo room"}},
				Email: &Email{Server: srv.Addr, TLS: "none", From: "Guest access <rooms@example.com>",
					Username: "{env.GUESTGATE_TEST_SMTP_USER}", Password: "{env.GUESTGATE_TEST_SMTP_PASSWORD}"},
			}
			ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
			defer cancel()
			if err := a.Provision(ctx); err != nil {
				t.Fatal(err)
			}
			defer a.Cleanup()
			core, logs := observer.New(zap.DebugLevel)
			a.logger = zap.New(core)

			r := httptest.NewRequest("POST", "http://rooms.test/api/rooms/demo/invitations",
				strings.NewReader(`{"email":"ada@example.org","name":"Ada","role":"moderator","send_email":true}`))
			r.Header.Set("Authorization", "Bearer an-api-key-0123456789")
			w := httptest.NewRecorder()
			if err := a.ServeHTTP(w, r, nil); err != nil {
				t.Fatal(err)
			}
			if w.Code != http.StatusCreated {
				t.Fatalf("POST: %d %s", w.Code, w.Body)
			}
			var got admin.InvitationCreatedJSON
			if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
				t.Fatal(err)
			}
			token := got.URL[strings.LastIndex(got.URL, "/")+1:]
			if got.EmailDelivery == nil || got.EmailDelivery.Sent == tc.refuse {
				t.Fatalf("email_delivery = %+v, want sent %v", got.EmailDelivery, !tc.refuse)
			}
			msgs := srv.Messages()
			if !tc.refuse {
				if len(msgs) != 1 || strings.Join(msgs[0].To, ",") != "ada@example.org" || !strings.Contains(string(msgs[0].Data), token) {
					t.Fatalf("the server received %d messages (%+v), want one to ada@example.org with the link", len(msgs), msgs)
				}
				if logs.Len() != 0 {
					t.Errorf("logged %v for a message sent", logs.All())
				}
				return
			}
			if len(msgs) != 0 {
				t.Fatalf("the server kept %d messages, want none", len(msgs))
			}
			entries := logs.All()
			if len(entries) != 1 || entries[0].Level != zapcore.WarnLevel || entries[0].Message != "invitation email not sent" {
				t.Fatalf("logged %v, want one warning", entries)
			}
			line, _ := json.Marshal(entries[0].ContextMap())
			for _, secret := range []string{token, pass, "ada@example.org"} {
				if strings.Contains(string(line), secret) {
					t.Errorf("the log line holds %q: %s", secret, line)
				}
			}
			if !strings.Contains(string(line), got.ID) || !strings.Contains(string(line), "550") {
				t.Errorf("the log line does not name the invitation and the refusal: %s", line)
			}
		})
	}
}
