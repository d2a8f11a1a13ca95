package caddymodule

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/guestgate/guestgate/webhook"
)

// Webhook secrets of these tests, in the Standard Webhooks form: 24 and 32
// bytes.
const (
	hookSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	hookSecretNew = "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
)

// secretHowTo is what every error about a webhook secret's form says.
const secretHowTo = "must be whsec_ followed by base64, at least 24 bytes decoded; make one with: echo whsec_$(head -c 32 /dev/urandom | base64)"

// TestWebhookCaddyfileErrors: every mistake in a webhook block is refused with
// its line, and no error shows the credentials a webhook URL may hold, nor
// the secret. A secret not in the Standard Webhooks form, which the plain-text
// secrets of earlier versions are not, is refused with how to make one.
func TestWebhookCaddyfileErrors(t *testing.T) {
	block := func(lines ...string) string {
		return "guest_admin {\n\twebhook https://h/ {\n\t\t" + strings.Join(lines, "\n\t\t") + "\n\t}\n}"
	}
	for _, tc := range []struct{ name, input, wantErr string }{
		{"no url", "guest_admin {\n\twebhook {\n\t\tsecret " + hookSecret + "\n\t}\n}", "wrong argument count"},
		{"two urls", "guest_admin {\n\twebhook https://a/ https://b/\n}", "wrong argument count"},
		{"relative url", "guest_admin {\n\twebhook hooks.example.com/x {\n\t\tsecret " + hookSecret + "\n\t}\n}", `webhook "hooks.example.com/x": must be an absolute http or https URL, at Testfile:2`},
		{"ftp url", "guest_admin {\n\twebhook ftp://hooks.example.com/ {\n\t\tsecret " + hookSecret + "\n\t}\n}", "must be an absolute http or https URL"},
		{"no secret", "guest_admin {\n\twebhook https://hooks.example.com/\n}", "webhook https://hooks.example.com/: secret is required, at Testfile:2"},
		{"secret without value", block("secret"), "wrong argument count or unexpected line ending after 'secret', at Testfile:3"},
		{"two secrets on a line", block("secret " + hookSecret + " " + hookSecretNew), "wrong argument count"},
		{"plain-text secret, the old form", block("secret an-old-plain-secret-0123456789"), "webhook https://h/: secret " + secretHowTo + " (a plain-text secret no longer works: deliveries are signed the Standard Webhooks way; give the receiver the new secret too), at Testfile:3"},
		{"secret not base64", block("secret whsec_not-base64!"), "webhook https://h/: secret " + secretHowTo + " (what follows whsec_ is not base64), at Testfile:3"},
		{"short secret", block("secret whsec_c2hvcnQ="), "webhook https://h/: secret " + secretHowTo + " (got 5 bytes), at Testfile:3"},
		{"second secret in the old form", block("secret "+hookSecret, "secret an-old-plain-secret-0123456789"), "webhook https://h/: secret " + secretHowTo + " (a plain-text secret no longer works"},
		{"events without types", block("secret "+hookSecret, "events"), "wrong argument count"},
		{"unknown event", block("secret "+hookSecret, "events guest.redeemed guest.joined"), `unknown event type "guest.joined"; known: room.put,`},
		{"unknown option", block("secret "+hookSecret, "retries 3"), "unrecognized webhook option 'retries', at Testfile:4"},
		{"same url twice", "guest_admin {\n\twebhook https://h/ {\n\t\tsecret " + hookSecret + "\n\t}\n\twebhook https://h/ {\n\t\tsecret " + hookSecretNew + "\n\t}\n}", "duplicate webhook 'https://h/', at Testfile:7"},
		{"credentials stay out of errors", "guest_admin {\n\twebhook https://user:pw@h/x?token=t1 {\n\t\tevents nope\n\t}\n}", "webhook https://h/x: unknown event type"},
		{"credentials stay out of secret errors", "guest_admin {\n\twebhook https://user:pw@h/x?token=t1 {\n\t\tsecret whsec_c2hvcnQ=\n\t}\n}", "webhook https://h/x: secret " + secretHowTo},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var a Admin
			err := a.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tc.input))
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error = %v, want it to contain %q", err, tc.wantErr)
			}
			for _, leak := range []string{"pw", "t1", "an-old-plain-secret", "c2hvcnQ", "not-base64"} {
				if strings.Contains(err.Error(), leak) {
					t.Fatalf("error %q shows a credential or a secret", err)
				}
			}
		})
	}
}

// TestWebhookRotation: a secret may be repeated to rotate it; the webhook
// keeps every secret, in order, and a JSON config lists them.
func TestWebhookRotation(t *testing.T) {
	var a Admin
	input := "guest_admin {\n\twebhook https://h/x {\n\t\tsecret " + hookSecret + "\n\t\tsecret {env.GUESTGATE_TEST_WEBHOOK_SECRET}\n\t}\n}"
	if err := a.UnmarshalCaddyfile(caddyfile.NewTestDispenser(input)); err != nil {
		t.Fatal(err)
	}
	want := []Webhook{{URL: "https://h/x", Secrets: []string{hookSecret, "{env.GUESTGATE_TEST_WEBHOOK_SECRET}"}}}
	if !reflect.DeepEqual(a.Webhooks, want) {
		t.Fatalf("webhooks %+v, want %+v", a.Webhooks, want)
	}
	t.Setenv("GUESTGATE_TEST_WEBHOOK_SECRET", hookSecretNew)
	eps, err := webhookEndpoints(a.Webhooks, false)
	if err != nil || len(eps) != 1 || !reflect.DeepEqual(eps[0].Secrets, []string{hookSecret, hookSecretNew}) {
		t.Fatalf("endpoints %+v, %v; want both secrets, resolved", eps, err)
	}
	b, err := json.Marshal(a.Webhooks[0])
	if want := `{"url":"https://h/x","secrets":["` + hookSecret + `","{env.GUESTGATE_TEST_WEBHOOK_SECRET}"]}`; err != nil || string(b) != want {
		t.Fatalf("JSON %s, want %s", b, want)
	}
}

// TestWebhookChecks: Validate refuses what the Caddyfile parser would, for
// JSON configs; a secret with a placeholder is checked once it is resolved,
// in Provision.
func TestWebhookChecks(t *testing.T) {
	base := Admin{APIKeys: []string{"k"}}
	for _, tc := range []struct {
		name    string
		hooks   []Webhook
		wantErr string
	}{
		{"fine", []Webhook{{URL: "https://h/x", Secrets: []string{hookSecret}, Events: []string{"access.on"}}}, ""},
		{"rotation", []Webhook{{URL: "https://h/x", Secrets: []string{hookSecret, hookSecretNew}}}, ""},
		{"placeholder", []Webhook{{URL: "https://h/x", Secrets: []string{"{env.GUESTGATE_WEBHOOK_SECRET}"}}}, ""},
		{"no secret", []Webhook{{URL: "https://h/x"}}, "secret is required"},
		{"empty secrets", []Webhook{{URL: "https://h/x", Secrets: []string{}}}, "secret is required"},
		{"plain-text secret", []Webhook{{URL: "https://h/x", Secrets: []string{"an-old-plain-secret-0123456789"}}}, "webhook https://h/x: secret " + secretHowTo + " (a plain-text secret no longer works"},
		{"second secret short", []Webhook{{URL: "https://h/x", Secrets: []string{hookSecret, "whsec_c2hvcnQ="}}}, "webhook https://h/x: secret 2 " + secretHowTo + " (got 5 bytes)"},
		{"no host", []Webhook{{URL: "https:///x", Secrets: []string{hookSecret}}}, "absolute http or https URL"},
		{"bad event", []Webhook{{URL: "https://h/x", Secrets: []string{hookSecret}, Events: []string{"link.clicked"}}}, `unknown event type "link.clicked"`},
		{"twice", []Webhook{{URL: "https://h/x", Secrets: []string{hookSecret}}, {URL: "https://h/x", Secrets: []string{hookSecretNew}}}, "configured twice"},
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
	// The secret's form is checked after placeholders are resolved.
	t.Setenv("GUESTGATE_TEST_WEBHOOK_SECRET", "an-old-plain-secret-0123456789")
	_, err := webhookEndpoints([]Webhook{{URL: "https://h/x", Secrets: []string{"{env.GUESTGATE_TEST_WEBHOOK_SECRET}"}}}, false)
	if err == nil || !strings.Contains(err.Error(), "webhook https://h/x: secret (after placeholders are resolved) "+secretHowTo) || strings.Contains(err.Error(), "an-old-plain") {
		t.Fatalf("plain-text secret: %v", err)
	}
	t.Setenv("GUESTGATE_TEST_WEBHOOK_SECRET", hookSecretNew+"\n") // a secret file's newline
	eps, err := webhookEndpoints([]Webhook{{URL: "https://h/x", Secrets: []string{"{env.GUESTGATE_TEST_WEBHOOK_SECRET}"}, Events: []string{"guest.left"}}}, true)
	want := webhook.Endpoint{URL: "https://h/x", Secrets: []string{hookSecretNew}, Events: []string{"guest.left"}, Emails: true}
	if err != nil || len(eps) != 1 || !reflect.DeepEqual(eps[0], want) {
		t.Fatalf("endpoints %+v, %v; want %+v", eps, err, want)
	}
}
