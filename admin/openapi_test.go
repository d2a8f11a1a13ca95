package admin

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/guestgate/guestgate/i18n"
	"github.com/guestgate/guestgate/internal/ratelimit"
	"github.com/guestgate/guestgate/internal/teststore"
)

// TestOpenAPIServed protects how the document reaches integrators: GET
// /api/openapi.json answers the embedded document as application/json
// without a credential, even to a client whose budget of failed
// authentications is spent (it checks no credential, so it spends none), may
// be cached but is revalidated (an ETag, 304 for If-None-Match), and any
// other method on the path is the API's, which asks for a credential.
func TestOpenAPIServed(t *testing.T) {
	svc, _ := teststore.Service(t, epoch)
	h, err := New(Config{Service: svc, Authenticators: apiKeys(t, testKey), AuthFailures: ratelimit.Budget{Events: 1, Window: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	if r := doFrom(t, h, "192.0.2.7", "GET", "/api/me", "", "Bearer wrong-key-0123456789"); r.status != http.StatusUnauthorized {
		t.Fatalf("spending the budget: got %d, want 401", r.status)
	}
	for _, tc := range []struct {
		name, method, ifNoneMatch string
		status                    int
		body                      bool // the document is the body
	}{
		{"GET", "GET", "", http.StatusOK, true},
		{"HEAD", "HEAD", "", http.StatusOK, false},
		{"GET, cached copy current", "GET", openapiETag, http.StatusNotModified, false},
		{"GET, cached copy stale", "GET", `"0000"`, http.StatusOK, true},
		{"POST is the API's", "POST", "", http.StatusTooManyRequests, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, "http://rooms.test"+OpenAPIPath, nil)
			r.RemoteAddr = "192.0.2.7:40000" // the client whose budget is spent
			if tc.ifNoneMatch != "" {
				r.Header.Set("If-None-Match", tc.ifNoneMatch)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d; body %.200s", w.Code, tc.status, w.Body)
			}
			if got := w.Body.String(); tc.body != (got == string(openapiJSON)) {
				t.Errorf("body is the document: %v, want %v", !tc.body, tc.body)
			}
			if tc.status == http.StatusOK {
				if ct, cc := w.Header().Get("Content-Type"), w.Header().Get("Cache-Control"); ct != "application/json" || cc != "no-cache" || w.Header().Get("ETag") != openapiETag {
					t.Errorf("Content-Type %q, Cache-Control %q, ETag %q; want application/json, no-cache, %s", ct, cc, w.Header().Get("ETag"), openapiETag)
				}
			}
		})
	}
}

// TestOpenAPIHasEveryRoute protects the document's completeness: every
// route New registers has its operation, under the same path and method, and
// the document has no operation that is not a route (but the document's own).
// An operation that a moderator token may not use (keyOnly) names the API
// key alone as its security; every other names both credentials.
func TestOpenAPIHasEveryRoute(t *testing.T) {
	var doc struct {
		Security []map[string][]string `json:"security"`
		Paths    map[string]map[string]json.RawMessage
	}
	if err := json.Unmarshal(openapiJSON, &doc); err != nil {
		t.Fatalf("the document is not JSON: %v", err)
	}
	want := map[string]int{"GET " + OpenAPIPath: -1}
	for _, rt := range (*Handler)(nil).routes() {
		want[rt.pattern] = rt.who
	}
	got := map[string][]map[string][]string{}
	for path, item := range doc.Paths {
		for method, raw := range item {
			if method == "parameters" {
				continue
			}
			var op struct {
				Security *[]map[string][]string `json:"security"`
			}
			if err := json.Unmarshal(raw, &op); err != nil {
				t.Fatalf("%s %s: %v", method, path, err)
			}
			sec := doc.Security
			if op.Security != nil {
				sec = *op.Security
			}
			got[strings.ToUpper(method)+" "+path] = sec
		}
	}
	if len(want) < 20 {
		t.Fatalf("only %d routes: %v", len(want), slices.Sorted(maps.Keys(want)))
	}
	for _, pattern := range slices.Sorted(maps.Keys(want)) {
		sec, ok := got[pattern]
		if !ok {
			t.Errorf("route %s has no operation in the document", pattern)
			continue
		}
		var names []string
		for _, req := range sec {
			names = append(names, slices.Sorted(maps.Keys(req))...)
		}
		wantNames := map[int][]string{-1: nil, keyOnly: {"apiKey"}, ownRoom: {"apiKey", "moderatorToken"}, anyCredential: {"apiKey", "moderatorToken"}}[want[pattern]]
		if !slices.Equal(names, wantNames) {
			t.Errorf("%s: security %v, want %v", pattern, names, wantNames)
		}
	}
	for _, op := range slices.Sorted(maps.Keys(got)) {
		if _, ok := want[op]; !ok {
			t.Errorf("the document's operation %s is no route of the handler", op)
		}
	}
}

// TestOpenAPIValid protects the document's form: it is OpenAPI 3.1 as
// kin-openapi, the library the integration tests validate answers with,
// loads and validates it (references resolve, examples match their
// schemas), and its email languages are the catalogue's.
func TestOpenAPIValid(t *testing.T) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(openapiJSON)
	if err != nil {
		t.Fatalf("loading the document: %v", err)
	}
	if !doc.IsOpenAPI31OrLater() {
		t.Errorf("openapi %q, want 3.1", doc.OpenAPI)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("the document is not valid: %v", err)
	}
	var langs []string
	for _, tag := range i18n.Default().Languages() {
		langs = append(langs, tag.String())
	}
	for _, s := range []*openapi3.Schema{
		doc.Components.Schemas["InvitationRequest"].Value.Properties["language"].Value,
		doc.Components.Schemas["EmailDelivery"].Value.Properties["language"].Value,
	} {
		var enum []string
		for _, v := range s.Enum {
			if v != nil {
				enum = append(enum, v.(string))
			}
		}
		if !slices.Equal(enum, langs) {
			t.Errorf("the document's languages %v, want the catalogue's %v", enum, langs)
		}
	}
}
