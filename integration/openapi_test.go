package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/guestgate/guestgate/admin"
)

// The honesty of the OpenAPI document (admin/openapi.json): every request
// the tests send to the moderator API, through guest_admin (/guest-admin/api/)
// or Caddy's admin endpoint (/guestgate/api/), and every answer they get, is
// checked against the document with kin-openapi by apiChecker, the transport
// of every client that calls the API. An answer whose status, header or body
// the document does not describe (an undocumented field, status or error code)
// fails the test that got it. A request the document does not allow (a wrong
// type, an unknown field, a credential an operation does not take) must be
// refused with an error answer the document describes: a request the
// document forbids but the server accepts fails the test too, for then the
// document says less than the server does. Paths that are no operation must
// be answered 401, 404 not_found, 405 method_not_allowed or 429, in the
// error shape.

// apiServer is the server the document is matched against: the checker
// moves every API request there, whatever its mount point.
const apiServer = "http://api.test"

// apiSpec is the document, loaded once, and its router.
var apiSpec = sync.OnceValues(func() (*openapi3.T, routers.Router) {
	doc, err := openapi3.NewLoader().LoadFromData(admin.OpenAPI())
	if err != nil {
		panic("loading the OpenAPI document: " + err.Error())
	}
	if err := doc.Validate(context.Background()); err != nil {
		panic("the OpenAPI document is not valid: " + err.Error())
	}
	doc.Servers = openapi3.Servers{{URL: apiServer}}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		panic("routing the OpenAPI document: " + err.Error())
	}
	return doc, router
})

// apiTally counts, across the tests of the binary, the answers checked
// against the document: by operation ("GET /api/rooms/{room}", or "no
// operation") and status.
var apiTally = struct {
	sync.Mutex
	answers map[string]map[int]int
	refused int // requests the document forbids, refused as it says
}{answers: map[string]map[int]int{}}

func tallyAnswer(op string, status int, refused bool) {
	apiTally.Lock()
	defer apiTally.Unlock()
	if apiTally.answers[op] == nil {
		apiTally.answers[op] = map[int]int{}
	}
	apiTally.answers[op][status]++
	if refused {
		apiTally.refused++
	}
}

// printAPITally prints how much of the document the tests exercised (shown
// with go test -v), and writes it to the file $GUESTGATE_API_TALLY if set.
func printAPITally() {
	apiTally.Lock()
	defer apiTally.Unlock()
	doc, _ := apiSpec()
	var all []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			all = append(all, method+" "+path)
		}
	}
	var b strings.Builder
	ops, answers := 0, 0
	for _, op := range slices.Sorted(maps.Keys(apiTally.answers)) {
		statuses := slices.Sorted(maps.Keys(apiTally.answers[op]))
		if op != noOperation {
			ops++
			answers += len(statuses)
		}
		fmt.Fprintf(&b, "  %s: %v\n", op, statuses)
	}
	var missed []string
	for _, op := range slices.Sorted(slices.Values(all)) {
		if apiTally.answers[op] == nil {
			missed = append(missed, op)
		}
	}
	fmt.Fprintf(&b, "OpenAPI: %d of %d operations and %d distinct (operation, status) answers checked against the document; %d requests it forbids were refused\n",
		ops, len(all), answers, apiTally.refused)
	if len(missed) > 0 {
		fmt.Fprintf(&b, "  not exercised: %s\n", strings.Join(missed, ", "))
	}
	fmt.Print(b.String())
	if path := os.Getenv("GUESTGATE_API_TALLY"); path != "" {
		_ = os.WriteFile(path, []byte(b.String()), 0o644)
	}
}

const noOperation = "no operation"

// apiChecker is an http.RoundTripper that checks the API's requests and
// answers against the document, failing t, and passes every other request
// through unchecked.
type apiChecker struct {
	t    testing.TB
	next http.RoundTripper
}

// checkedClient returns client with its transport wrapped in an apiChecker
// for t, unless it is one already.
func checkedClient(t testing.TB, client *http.Client) *http.Client {
	if _, ok := client.Transport.(apiChecker); ok {
		return client
	}
	c := *client
	next := c.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	c.Transport = apiChecker{t: t, next: next}
	return &c
}

// apiPath returns the path of an API request relative to the API's mount
// point ("/api/..."), and whether it is one.
func apiPath(p string) (string, bool) {
	for _, mount := range []string{"/guest-admin", "/guestgate"} {
		if rest, ok := strings.CutPrefix(p, mount); ok && strings.HasPrefix(rest, "/api/") {
			return rest, true
		}
	}
	return "", false
}

func (c apiChecker) RoundTrip(req *http.Request) (*http.Response, error) {
	path, ok := apiPath(req.URL.Path)
	if !ok {
		return c.next.RoundTrip(req)
	}
	var reqBody []byte
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		reqBody = b
		req = req.Clone(req.Context())
		req.Body = io.NopCloser(bytes.NewReader(b))
	}
	resp, err := c.next.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	respBody, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(respBody))
	if err != nil {
		return resp, nil // the test that reads the body sees the error
	}
	endpoint := strings.HasPrefix(req.URL.Path, "/guestgate/")
	op, refused, msg := checkAPI(req, path, endpoint, reqBody, resp, respBody)
	tallyAnswer(op, resp.StatusCode, refused)
	if msg != "" {
		c.t.Errorf("OpenAPI: %s %s answered %d: %s\nrequest body: %.300s\nanswer: %.500s", req.Method, req.URL.RequestURI(), resp.StatusCode, msg, reqBody, respBody)
	}
	return resp, nil
}

// checkAPI checks one request to the API at path ("/api/..."; endpoint: on
// Caddy's admin endpoint, which takes no credential) and its answer against
// the document. It returns the request's operation ("GET /api/rooms/{room}",
// or noOperation), whether the document forbids the request, and what is
// wrong, "" if nothing.
func checkAPI(req *http.Request, path string, endpoint bool, reqBody []byte, resp *http.Response, respBody []byte) (op string, refused bool, msg string) {
	doc, router := apiSpec()
	ctx := context.Background()
	u, err := url.Parse(apiServer + path)
	if err != nil {
		return noOperation, false, err.Error()
	}
	u.RawQuery = req.URL.RawQuery
	match := req.Clone(ctx)
	match.URL, match.Host, match.RequestURI = u, u.Host, ""
	match.Body = io.NopCloser(bytes.NewReader(reqBody))
	if len(reqBody) > 0 {
		// The server reads every body as JSON, whatever its Content-Type
		// (curl -d sends application/x-www-form-urlencoded), as the
		// document's description says: the body is checked as JSON.
		match.Header.Set("Content-Type", "application/json")
	}

	route, params, err := router.FindRoute(match)
	if err != nil {
		return noOperation, false, checkNoOperation(doc, resp, respBody)
	}
	op = match.Method + " " + route.Path
	in := &openapi3filter.RequestValidationInput{
		Request: match, PathParams: params, Route: route,
		Options: &openapi3filter.Options{
			AuthenticationFunc: func(_ context.Context, a *openapi3filter.AuthenticationInput) error {
				return checkCredential(a.SecuritySchemeName, req.Header.Get("Authorization"), endpoint)
			},
			MultiError: true,
		},
	}
	reqErr := openapi3filter.ValidateRequest(ctx, in)
	refused = reqErr != nil
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header,
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	out.SetBodyBytes(respBody)
	switch r := route.Operation.Responses.Status(resp.StatusCode); {
	case refused && resp.StatusCode < 400:
		msg = "the document does not allow this request, but the server accepted it: " + reqErr.Error()
	case r != nil && len(r.Value.Content) == 0 && len(respBody) > 0:
		msg = "the document gives this answer no body"
	default:
		if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
			msg = "the answer does not match the document: " + err.Error()
		}
	}
	return op, refused, msg
}

// checkCredential is the check of a security scheme of the document: a
// bearer credential, a JWT for moderatorToken, anything else for apiKey. The
// admin endpoint takes no credential: its access control is the endpoint's.
func checkCredential(scheme, authorization string, endpoint bool) error {
	if endpoint {
		return nil
	}
	if len(authorization) < 7 || !strings.EqualFold(authorization[:7], "Bearer ") || strings.TrimSpace(authorization[7:]) == "" {
		return errors.New("no bearer credential")
	}
	jwt := strings.Count(strings.TrimSpace(authorization[7:]), ".") == 2
	if jwt != (scheme == "moderatorToken") {
		return fmt.Errorf("the credential is not a %s", scheme)
	}
	return nil
}

// checkNoOperation checks the answer to a request that is no operation of
// the document: refused before routing (401, 429) or by it (404, 405), in
// the error shape.
func checkNoOperation(doc *openapi3.T, resp *http.Response, body []byte) string {
	want := map[int]string{401: "unauthorized", 404: "not_found", 405: "method_not_allowed", 429: "rate_limited"}[resp.StatusCode]
	if want == "" {
		return "a request that is no operation of the document got an answer other than 401, 404, 405 or 429"
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return "the answer is not JSON: " + err.Error()
	}
	if err := doc.Components.Schemas["Error"].Value.VisitJSON(v, openapi3.EnableJSONSchema2020(), openapi3.VisitAsResponse()); err != nil {
		return "the answer is not an error of the document: " + err.Error()
	}
	if code := v.(map[string]any)["error"].(map[string]any)["code"]; code != want {
		return fmt.Sprintf("code %v, want %s", code, want)
	}
	return ""
}

// TestOpenAPIChecker protects the checker itself, without Caddy: it passes
// answers the document describes and catches each kind of lie, for a checker
// that passes everything proves nothing.
func TestOpenAPIChecker(t *testing.T) {
	const room = `{"id":"demo","name":"Demo","kind":"room","available":true,"admission":"auto","guest_access":false,"lobby_message":"","max_links":3,"links":[],"created_at":"2026-05-04T09:00:00Z","updated_at":"2026-05-04T09:00:00Z"}`
	jwt := "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1In0.c2ln"
	jsonHeader := http.Header{"Content-Type": {"application/json"}}
	for _, tc := range []struct {
		name, method, path, cred, body string
		status                         int
		header                         http.Header
		answer                         string
		wrong                          string // in the message; "" for none
	}{
		{"a room", "GET", "/api/rooms/demo", apiKey, "", 200, jsonHeader, room, ""},
		{"an undocumented field", "GET", "/api/rooms/demo", apiKey, "", 200, jsonHeader, strings.TrimSuffix(room, "}") + `,"secret":"x"}`, "does not match"},
		{"a missing field", "GET", "/api/rooms/demo", apiKey, "", 200, jsonHeader, strings.Replace(room, `"lobby_message":"",`, "", 1), "does not match"},
		{"an undocumented status", "GET", "/api/rooms/demo", apiKey, "", 418, jsonHeader, `{"error":{"code":"internal","message":"m"}}`, "does not match"},
		{"an undocumented error code", "GET", "/api/rooms/demo", apiKey, "", 404, jsonHeader, `{"error":{"code":"link_not_found","message":"m"}}`, "does not match"},
		{"a documented error code", "GET", "/api/rooms/demo", apiKey, "", 404, jsonHeader, `{"error":{"code":"room_not_found","message":"m"}}`, ""},
		{"401 without WWW-Authenticate", "GET", "/api/rooms/demo", "", "", 401, jsonHeader, `{"error":{"code":"unauthorized","message":"m"}}`, "does not match"},
		{"401 with WWW-Authenticate", "GET", "/api/rooms/demo", "", "", 401,
			http.Header{"Content-Type": {"application/json"}, "Www-Authenticate": {`Bearer realm="guestgate"`}}, `{"error":{"code":"unauthorized","message":"m"}}`, ""},
		{"an unknown field accepted", "POST", "/api/rooms/demo/links", apiKey, `{"name":"x","colour":"red"}`, 201,
			http.Header{"Content-Type": {"application/json"}, "Location": {"links/l_1"}},
			`{"id":"l_1","name":"x","url":"http://h/guest/t","created_at":"2026-05-04T09:00:00Z","expires_at":null,"max_clicks":null,"clicks":0,"role":"viewer","not_before":null,"active":true}`, "server accepted it"},
		{"an unknown field refused", "POST", "/api/rooms/demo/links", apiKey, `{"name":"x","colour":"red"}`, 422, jsonHeader,
			`{"error":{"code":"invalid","message":"unknown field colour","field":"colour","fields":[{"field":"colour","message":"unknown field colour"}]}}`, ""},
		{"a moderator token on a key-only operation, accepted", "PUT", "/api/rooms/demo", jwt, `{}`, 201, jsonHeader, room, "server accepted it"},
		{"a moderator token on a key-only operation, refused", "PUT", "/api/rooms/demo", jwt, `{}`, 403, jsonHeader, `{"error":{"code":"forbidden","message":"m"}}`, ""},
		{"a body where the document has none", "DELETE", "/api/rooms/demo/links/l_1", apiKey, "", 204, http.Header{}, `{}`, "no body"},
		{"no operation, 404", "GET", "/api/nothing", apiKey, "", 404, jsonHeader, `{"error":{"code":"not_found","message":"no such API path"}}`, ""},
		{"no operation, 200", "GET", "/api/nothing", apiKey, "", 200, jsonHeader, `{}`, "no operation"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, "http://127.0.0.1/guest-admin"+tc.path, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if tc.body != "" {
				req.Header.Set("Content-Type", "application/json")
			}
			if tc.cred != "" {
				req.Header.Set("Authorization", "Bearer "+tc.cred)
			}
			resp := &http.Response{StatusCode: tc.status, Header: tc.header}
			_, _, msg := checkAPI(req, tc.path, false, []byte(tc.body), resp, []byte(tc.answer))
			if tc.wrong == "" && msg != "" || !strings.Contains(msg, tc.wrong) {
				t.Errorf("checker said %q, want %q", msg, tc.wrong)
			}
		})
	}
}

// TestOpenAPITour protects the document's address and takes the checker
// through the operations and answers that the other tests leave out: the
// document itself (served at /api/openapi.json without a credential, as the
// embedded bytes), the room list for both credentials, the lobby message,
// the guest list in CSV, a room deleted twice, a body over 64 KiB, a key-only
// operation with a moderator token, and paths and methods that are no
// operation. Every answer is checked against the document on the way.
func TestOpenAPITour(t *testing.T) {
	g := startGateway(t, config{AdminExtra: []string{"moderator_key " + sharedKey}})
	status, header, body := apiFrom(t, g, g.admin, "", "", http.MethodGet, admin.OpenAPIPath, "")
	if status != http.StatusOK || header.Get("Content-Type") != "application/json" || !bytes.Equal(body, admin.OpenAPI()) {
		t.Fatalf("GET %s: %d %q, %d bytes; want 200 application/json with the document", admin.OpenAPIPath, status, header.Get("Content-Type"), len(body))
	}
	g.putRoom("tour", map[string]any{"name": "Tour"})
	g.putRoom("gone", map[string]any{"kind": "gallery"})
	mod, err := admin.MintModeratorToken(sharedKey, admin.ModeratorTokenSpec{Sub: "u-1", Rooms: []string{"tour"}, TTL: time.Hour}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, cred, method, path, body string
		status                         int
	}{
		{"rooms for a key", apiKey, "GET", "/api/rooms", "", 200},
		{"rooms for a moderator", mod, "GET", "/api/rooms", "", 200},
		{"who the moderator is", mod, "GET", "/api/me", "", 200},
		{"a lobby message", mod, "PUT", "/api/rooms/tour/lobby/message", `{"text": "We start at 10:05"}`, 200},
		{"a lobby message of two lines", mod, "PUT", "/api/rooms/tour/lobby/message", `{"text": "one\ntwo"}`, 422},
		{"no lobby message", mod, "DELETE", "/api/rooms/tour/lobby/message", "", 200},
		{"the lobby message of no room", apiKey, "DELETE", "/api/rooms/nope/lobby/message", "", 404},
		{"the guest list as CSV", mod, "GET", "/api/rooms/tour/guests?format=csv", "", 200},
		{"a page of one guest", mod, "GET", "/api/rooms/tour/guests?limit=1", "", 200},
		{"a room by a moderator", mod, "DELETE", "/api/rooms/tour", "", 403},
		{"a gallery room's guest access", apiKey, "PUT", "/api/rooms/gone/guest-access", `{"enabled": true}`, 422},
		{"a room deleted", apiKey, "DELETE", "/api/rooms/gone", "", 204},
		{"a room deleted twice", apiKey, "DELETE", "/api/rooms/gone", "", 404},
		{"a body over 64 KiB", apiKey, "POST", "/api/rooms/tour/links", `{"name": "` + strings.Repeat("x", 70<<10) + `"}`, 413},
		{"no such path", apiKey, "GET", "/api/rooms/tour/nothing", "", 404},
		{"no such method", apiKey, "PATCH", "/api/rooms/tour", `{}`, 405},
		{"no credential", "", "GET", "/api/rooms", "", 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, _, body := apiFrom(t, g, g.admin, "", tc.cred, tc.method, tc.path, tc.body)
			if status != tc.status {
				t.Errorf("%s %s: %d, want %d; body %.300s", tc.method, tc.path, status, tc.status, body)
			}
		})
	}
}
