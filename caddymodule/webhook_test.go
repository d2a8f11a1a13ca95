package caddymodule

import (
	"reflect"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/guestgate/guestgate/webhook"
)

// TestWebhookCaddyfileErrors: every mistake in a webhook block is refused with
// its line, and no error shows the credentials a webhook URL may hold.
func TestWebhookCaddyfileErrors(t *testing.T) {
	for _, tc := range []struct{ name, input, wantErr string }{
		{"no url", "guest_admin {\n\twebhook {\n\t\tsecret s\n\t}\n}", "wrong argument count"},
		{"two urls", "guest_admin {\n\twebhook https://a/ https://b/\n}", "wrong argument count"},
		{"relative url", "guest_admin {\n\twebhook hooks.example.com/x {\n\t\tsecret s\n\t}\n}", `webhook "hooks.example.com/x": must be an absolute http or https URL, at Testfile:2`},
		{"ftp url", "guest_admin {\n\twebhook ftp://hooks.example.com/ {\n\t\tsecret s\n\t}\n}", "must be an absolute http or https URL"},
		{"no secret", "guest_admin {\n\twebhook https://hooks.example.com/\n}", "webhook https://hooks.example.com/: secret is required, at Testfile:2"},
		{"secret without value", "guest_admin {\n\twebhook https://h/ {\n\t\tsecret\n\t}\n}", "wrong argument count or unexpected line ending after 'secret', at Testfile:3"},
		{"two secrets on a line", "guest_admin {\n\twebhook https://h/ {\n\t\tsecret a b\n\t}\n}", "wrong argument count"},
		{"duplicate secret", "guest_admin {\n\twebhook https://h/ {\n\t\tsecret a\n\t\tsecret b\n\t}\n}", "duplicate webhook option 'secret', at Testfile:4"},
		{"events without types", "guest_admin {\n\twebhook https://h/ {\n\t\tsecret a\n\t\tevents\n\t}\n}", "wrong argument count"},
		{"unknown event", "guest_admin {\n\twebhook https://h/ {\n\t\tsecret a\n\t\tevents guest.redeemed guest.joined\n\t}\n}", `unknown event type "guest.joined"; known: room.put,`},
		{"unknown option", "guest_admin {\n\twebhook https://h/ {\n\t\tsecret a\n\t\tretries 3\n\t}\n}", "unrecognized webhook option 'retries', at Testfile:4"},
		{"same url twice", "guest_admin {\n\twebhook https://h/ {\n\t\tsecret a\n\t}\n\twebhook https://h/ {\n\t\tsecret b\n\t}\n}", "duplicate webhook 'https://h/', at Testfile:7"},
		{"credentials stay out of errors", "guest_admin {\n\twebhook https://user:pw@h/x?token=t1 {\n\t\tevents nope\n\t}\n}", "webhook https://h/x: unknown event type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var a Admin
			err := a.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tc.input))
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error = %v, want it to contain %q", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), "pw") || strings.Contains(err.Error(), "t1") {
				t.Fatalf("error %q shows the URL's credentials", err)
			}
		})
	}
}

// TestWebhookChecks: Validate refuses what the Caddyfile parser would, for
// JSON configs; a secret is measured after its placeholders are resolved.
func TestWebhookChecks(t *testing.T) {
	base := Admin{APIKeys: []string{"k"}}
	for _, tc := range []struct {
		name    string
		hooks   []Webhook
		wantErr string
	}{
		{"fine", []Webhook{{URL: "https://h/x", Secret: "s", Events: []string{"access.on"}}}, ""},
		{"no secret", []Webhook{{URL: "https://h/x"}}, "secret is required"},
		{"no host", []Webhook{{URL: "https:///x", Secret: "s"}}, "absolute http or https URL"},
		{"bad event", []Webhook{{URL: "https://h/x", Secret: "s", Events: []string{"link.clicked"}}}, `unknown event type "link.clicked"`},
		{"twice", []Webhook{{URL: "https://h/x", Secret: "s"}, {URL: "https://h/x", Secret: "t"}}, "configured twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := base
			a.Webhooks = tc.hooks
			err := a.Validate()
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("Validate() = %v, want %q", err, tc.wantErr)
			}
		})
	}
	// The secret's length counts after placeholders are resolved.
	t.Setenv("GUESTGATE_TEST_WEBHOOK_SECRET", "short")
	_, err := webhookEndpoints([]Webhook{{URL: "https://h/x", Secret: "{env.GUESTGATE_TEST_WEBHOOK_SECRET}"}}, false)
	if err == nil || !strings.Contains(err.Error(), "webhook https://h/x: secret must be at least 16 bytes after placeholders are resolved, got 5") {
		t.Fatalf("short secret: %v", err)
	}
	t.Setenv("GUESTGATE_TEST_WEBHOOK_SECRET", "long-enough-secret-0123")
	eps, err := webhookEndpoints([]Webhook{{URL: "https://h/x", Secret: "{env.GUESTGATE_TEST_WEBHOOK_SECRET}", Events: []string{"guest.left"}}}, true)
	want := webhook.Endpoint{URL: "https://h/x", Secret: []byte("long-enough-secret-0123"), Events: []string{"guest.left"}, Emails: true}
	if err != nil || len(eps) != 1 || !reflect.DeepEqual(eps[0], want) {
		t.Fatalf("endpoints %+v, %v; want %+v", eps, err, want)
	}
}
