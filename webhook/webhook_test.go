package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestSignAndVerify protects the wire format receivers rely on: the signature
// is "sha256=" and the hex HMAC-SHA256 of "<timestamp>.<body>", computed here
// independently of Sign; Verify accepts a genuine delivery within 5 minutes
// and refuses every change of secret, body or timestamp, and a replay.
func TestSignAndVerify(t *testing.T) {
	secret := []byte("a-webhook-secret-0123456789")
	body := []byte(`{"id":"e_1","type":"access.off","room":"demo"}`)
	now := time.Unix(1_800_000_000, 0)
	ts := strconv.FormatInt(now.Unix(), 10)
	header := http.Header{}
	header.Set(HeaderTimestamp, ts)
	header.Set(HeaderSignature, Sign(secret, ts, body))

	mac := hmac.New(sha256.New, secret)
	io.WriteString(mac, "1800000000."+string(body))
	if got, want := header.Get("X-Guestgate-Signature"), "sha256="+hex.EncodeToString(mac.Sum(nil)); got != want {
		t.Fatalf("signature %s, want %s", got, want)
	}
	for _, at := range []time.Time{now, now.Add(MaxAge), now.Add(-MaxAge)} {
		if err := Verify(secret, header, body, at); err != nil {
			t.Fatalf("a genuine delivery at %v: %v", at.Sub(now), err)
		}
	}
	for _, tc := range []struct {
		name   string
		secret []byte
		body   []byte
		ts     string
		now    time.Time
		want   error
	}{
		{"other secret", []byte("another-secret-0123456789"), body, ts, now, ErrSignature},
		{"changed body", secret, []byte(`{"id":"e_1","type":"access.on","room":"demo"}`), ts, now, ErrSignature},
		{"changed timestamp", secret, body, "1800000001", now, ErrSignature},
		{"replayed later", secret, body, ts, now.Add(MaxAge + time.Second), ErrTimestamp},
		{"from the future", secret, body, ts, now.Add(-MaxAge - time.Second), ErrTimestamp},
		{"no timestamp", secret, body, "", now, ErrTimestamp},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := header.Clone()
			h.Set(HeaderTimestamp, tc.ts)
			if err := Verify(tc.secret, h, tc.body, tc.now); !errors.Is(err, tc.want) {
				t.Fatalf("Verify = %v, want %v", err, tc.want)
			}
		})
	}
}

// TestRegisterChecksEndpoints: a Hub refuses an endpoint it could not deliver
// to or sign for, naming it without the credentials its URL may hold; the
// queue of an endpoint is named after its URL.
func TestRegisterChecksEndpoints(t *testing.T) {
	secret := []byte("a-webhook-secret-0123456789")
	for _, tc := range []struct {
		name    string
		ep      Endpoint
		wantErr string
	}{
		{"relative URL", Endpoint{URL: "hooks.example.com/x", Secret: secret}, `webhook "hooks.example.com/x": must be an absolute http or https URL`},
		{"no host", Endpoint{URL: "https:///x", Secret: secret}, "must be an absolute http or https URL"},
		{"ftp", Endpoint{URL: "ftp://h/x", Secret: secret}, "must be an absolute http or https URL"},
		{"short secret", Endpoint{URL: "https://u:pw@h/x?token=t1", Secret: []byte("short")}, "webhook https://h/x: secret must be at least 16 bytes"},
		{"unknown event", Endpoint{URL: "https://u:pw@h/x?token=t1", Secret: secret, Events: []string{"link.clicked"}}, `webhook https://h/x: unknown event type "link.clicked"; known: room.put,`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := NewHub(nil, nil)
			_, err := h.Register([]Endpoint{tc.ep})
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Register = %v, want %q", err, tc.wantErr)
			}
		})
	}
	if q := queueName("https://h/x"); len(q) != 19 || !strings.HasPrefix(q, "wh-") || q == queueName("https://h/y") {
		t.Fatalf("queue name %q", q)
	}
	// A store without queues takes no endpoints, but a Registration without
	// any is fine.
	h := NewHub(nil, nil)
	if _, err := h.Register([]Endpoint{{URL: "https://h/x", Secret: secret}}); err == nil || !strings.Contains(err.Error(), "keeps no queues") {
		t.Fatalf("Register on a store without queues = %v", err)
	}
	r, err := h.Register(nil)
	if err != nil {
		t.Fatalf("Register without endpoints = %v", err)
	}
	h.Unregister(r)
}

// TestReadmeShowsExample keeps the README's webhook verifier the code that
// ExampleVerify runs: the README must show example_test.go verbatim, in a go
// block.
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
