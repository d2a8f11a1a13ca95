package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// Test secrets, in the form CheckSecret wants: 32 and 24 bytes.
const (
	testSecret  = "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=" // "0123456789abcdef0123456789abcdef"
	otherSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
)

// TestSign protects the wire format receivers rely on, Standard Webhooks:
// the signature is "v1," and the base64 HMAC-SHA256 of "<id>.<timestamp>.<body>"
// with the secret's decoded bytes, computed here independently of Sign, one
// per secret, separated by spaces. The Standard Webhooks library accepts the
// delivery with any of the secrets that signed it and refuses it with
// another secret, or with the body, id or timestamp changed.
func TestSign(t *testing.T) {
	body := []byte(`{"id":"e_1","type":"access.off","room":"demo"}`)
	at := time.Now() // the library checks the timestamp against its own clock
	ts := strconv.FormatInt(at.Unix(), 10)
	independent := func(secret string) string {
		key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
		mac := hmac.New(sha256.New, key)
		io.WriteString(mac, "e_1."+ts+"."+string(body))
		return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	}
	for _, tc := range []struct {
		name    string
		secrets []string
	}{
		{"one secret", []string{testSecret}},
		{"rotation", []string{testSecret, otherSecret}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sig, err := Sign(tc.secrets, "e_1", at, body)
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, s := range tc.secrets {
				want = append(want, independent(s))
			}
			if w := strings.Join(want, " "); sig != w {
				t.Fatalf("signature %q, want %q", sig, w)
			}
			header := http.Header{}
			header.Set("webhook-id", "e_1")
			header.Set("webhook-timestamp", ts)
			header.Set("webhook-signature", sig)
			for _, s := range tc.secrets {
				if err := libVerify(t, s, body, header); err != nil {
					t.Errorf("the library refuses the delivery with a secret that signed it: %v", err)
				}
			}
			stranger := "whsec_" + base64.StdEncoding.EncodeToString([]byte("a-secret-that-did-not-sign-it"))
			for _, bad := range []struct {
				what   string
				secret string
				body   string
				header string
				value  string
			}{
				{"another secret", stranger, string(body), "", ""},
				{"a changed body", tc.secrets[0], `{"id":"e_1","type":"access.on","room":"demo"}`, "", ""},
				{"a changed id", tc.secrets[0], string(body), "webhook-id", "e_2"},
				{"a changed timestamp", tc.secrets[0], string(body), "webhook-timestamp", strconv.FormatInt(at.Unix()+1, 10)},
				{"an old timestamp", tc.secrets[0], string(body), "webhook-timestamp", strconv.FormatInt(at.Add(-10*time.Minute).Unix(), 10)},
			} {
				h := header.Clone()
				if bad.header != "" {
					h.Set(bad.header, bad.value)
				}
				if err := libVerify(t, bad.secret, []byte(bad.body), h); err == nil {
					t.Errorf("the library accepts a delivery with %s", bad.what)
				}
			}
		})
	}
	if _, err := Sign(nil, "e_1", at, body); err == nil {
		t.Error("Sign without a secret succeeded")
	}
}

// libVerify checks a delivery with the Standard Webhooks library for Go, as
// a receiver does.
func libVerify(t *testing.T, secret string, body []byte, header http.Header) error {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatalf("the library refuses the secret: %v", err)
	}
	return wh.Verify(body, header)
}

// TestCheckSecret: a secret must be written as the Standard Webhooks
// libraries take it, "whsec_" and standard base64, and hold at least 24
// bytes; the error says how to make one and never shows the secret. Every
// secret CheckSecret accepts, the library for Go accepts too.
func TestCheckSecret(t *testing.T) {
	const howTo = "must be whsec_ followed by base64, at least 24 bytes decoded; make one with: echo whsec_$(head -c 32 /dev/urandom | base64)"
	b64 := base64.StdEncoding.EncodeToString
	for _, tc := range []struct {
		name, secret, wantErr string
	}{
		{"32 bytes", testSecret, ""},
		{"24 bytes", otherSecret, ""},
		{"64 bytes", "whsec_" + b64(make([]byte, 64)), ""},
		{"plain text, the old form", "a-webhook-secret-0123456789", howTo + " (a plain-text secret no longer works"},
		{"base64 without the prefix", otherSecret[len("whsec_"):], "a plain-text secret no longer works"},
		{"empty", "", "a plain-text secret no longer works"},
		{"prefix alone", "whsec_", howTo + " (got 0 bytes)"},
		{"23 bytes", "whsec_" + b64([]byte("0123456789abcdef0123456")), howTo + " (got 23 bytes)"},
		{"unpadded base64", strings.TrimRight(testSecret, "="), howTo + " (what follows whsec_ is not base64)"},
		{"URL-safe base64", "whsec_" + base64.URLEncoding.EncodeToString([]byte("\xff\xfe\xfd0123456789abcdef0123456")), "is not base64"},
		{"spaces", "whsec_ MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=", "is not base64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckSecret(tc.secret)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("CheckSecret = %v, want nil", err)
				}
				if _, err := standardwebhooks.NewWebhook(tc.secret); err != nil {
					t.Fatalf("the library refuses a secret CheckSecret accepts: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("CheckSecret = %v, want %q", err, tc.wantErr)
			}
			if len(tc.secret) > len("whsec_") && strings.Contains(err.Error(), tc.secret[len("whsec_"):]) {
				t.Fatalf("the error %q shows the secret", err)
			}
		})
	}
}

// TestRegisterChecksEndpoints: a Hub refuses an endpoint it could not deliver
// to or sign for, naming it without the credentials its URL may hold; the
// queue of an endpoint is named after its URL.
func TestRegisterChecksEndpoints(t *testing.T) {
	secret := []string{testSecret}
	for _, tc := range []struct {
		name    string
		ep      Endpoint
		wantErr string
	}{
		{"relative URL", Endpoint{URL: "hooks.example.com/x", Secrets: secret}, `webhook "hooks.example.com/x": must be an absolute http or https URL`},
		{"no host", Endpoint{URL: "https:///x", Secrets: secret}, "must be an absolute http or https URL"},
		{"ftp", Endpoint{URL: "ftp://h/x", Secrets: secret}, "must be an absolute http or https URL"},
		{"misspelt scheme", Endpoint{URL: "htps://u:pw@h/x?token=t1", Secrets: secret}, `webhook "htps://h/x": must be an absolute http or https URL`},
		{"no scheme, credentials", Endpoint{URL: "u:pw@h/x?token=t1", Secrets: secret}, `webhook "u:…": must be an absolute http or https URL`},
		{"no secret", Endpoint{URL: "https://u:pw@h/x?token=t1"}, "webhook https://h/x: no secret; a secret must be whsec_ followed by base64"},
		{"plain-text secret", Endpoint{URL: "https://u:pw@h/x?token=t1", Secrets: []string{"a-webhook-secret-0123456789"}}, "webhook https://h/x: secret must be whsec_ followed by base64, at least 24 bytes decoded; make one with: echo whsec_$(head -c 32 /dev/urandom | base64)"},
		{"second secret short", Endpoint{URL: "https://u:pw@h/x?token=t1", Secrets: []string{testSecret, "whsec_c2hvcnQ="}}, "webhook https://h/x: secret 2 must be whsec_ followed by base64, at least 24 bytes decoded; make one with: echo whsec_$(head -c 32 /dev/urandom | base64) (got 5 bytes)"},
		{"unknown event", Endpoint{URL: "https://u:pw@h/x?token=t1", Secrets: secret, Events: []string{"link.clicked"}}, `webhook https://h/x: unknown event type "link.clicked"; known: room.put,`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := NewHub(nil, nil)
			_, err := h.Register([]Endpoint{tc.ep})
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Register = %v, want %q", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), "pw") || strings.Contains(err.Error(), "t1") {
				t.Fatalf("Register = %v: the error holds the URL's credentials", err)
			}
		})
	}
	if q := queueName("https://h/x"); len(q) != 19 || !strings.HasPrefix(q, "wh-") || q == queueName("https://h/y") {
		t.Fatalf("queue name %q", q)
	}
	// A store without queues takes no endpoints, but a Registration without
	// any is fine.
	h := NewHub(nil, nil)
	if _, err := h.Register([]Endpoint{{URL: "https://h/x", Secrets: secret}}); err == nil || !strings.Contains(err.Error(), "keeps no queues") {
		t.Fatalf("Register on a store without queues = %v", err)
	}
	r, err := h.Register(nil)
	if err != nil {
		t.Fatalf("Register without endpoints = %v", err)
	}
	h.Unregister(r)
}

// TestReadmeShowsExample keeps the README's webhook receiver the code that
// the package's Example runs with a real delivery: the README must show
// example_test.go verbatim, in a go block.
func TestReadmeShowsExample(t *testing.T) {
	example, err := os.ReadFile("example_test.go")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	block, ok := fencedBlock(string(readme), "package webhook_test\n")
	if !ok {
		t.Fatal("README.md has no ```go block starting with \"package webhook_test\"")
	}
	if block != string(example) {
		t.Errorf("README.md's webhook verifier differs from webhook/example_test.go; copy the file into the README's go block verbatim.\nREADME:\n%s", block)
	}
}

// fencedBlock returns the content of the first ```go block of markdown whose
// content starts with prefix.
func fencedBlock(markdown, prefix string) (string, bool) {
	const open, fence = "```go\n", "\n```"
	for rest := markdown; ; {
		i := strings.Index(rest, open)
		if i < 0 {
			return "", false
		}
		rest = rest[i+len(open):]
		end := strings.Index(rest, fence)
		if end < 0 {
			return "", false
		}
		if block := rest[:end+1]; strings.HasPrefix(block, prefix) {
			return block, true
		}
		rest = rest[end+len(fence):]
	}
}
