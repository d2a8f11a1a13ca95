package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/guestgate/guestgate/admin"
)

// adminClient calls admin.api.guestgate on Caddy's admin endpoint.
type adminClient struct {
	addr   string // as given, for messages
	origin string
	socket bool // a unix socket or file descriptor: no Origin header
	store  string
	http   *http.Client
}

// newAdminClient returns a client of the admin endpoint at ep, dialled the way
// caddycmd.AdminAPIRequest does.
func newAdminClient(ep Endpoint) *adminClient {
	origin := "http://" + ep.Address
	if ep.Socket {
		origin = "http://127.0.0.1"
	}
	return &adminClient{
		addr:   ep.Name,
		origin: origin,
		socket: ep.Socket,
		http: &http.Client{Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, ep.Network, ep.Address)
			},
		}},
	}
}

// opError is an error answer of the admin endpoint.
type opError struct {
	Status int
	admin.APIError
}

func (e *opError) Error() string {
	detail := fmt.Sprintf("HTTP %d", e.Status)
	if e.Code != "" {
		detail = e.Code + ", " + detail
	}
	switch {
	case len(e.Fields) > 1:
		names := make([]string, len(e.Fields))
		for i, f := range e.Fields {
			names[i] = f.Field
		}
		detail = "fields " + strings.Join(names, ", ") + "; " + detail
	case e.Field != "":
		detail = "field " + e.Field + ", " + detail
	}
	return e.Message + " (" + detail + ")"
}

// request sends method path (under /guestgate, with ?store= added) and returns
// the response if its status is below 400; otherwise an *opError.
func (a *adminClient) request(ctx context.Context, method, path string, query url.Values, body io.Reader, header http.Header) (*http.Response, error) {
	if query == nil {
		query = url.Values{}
	}
	if a.store != "" && strings.HasPrefix(path, admin.EndpointPrefix) {
		query.Set("store", a.store)
	}
	uri := path
	if len(query) > 0 {
		uri += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, a.origin+uri, body)
	if err != nil {
		return nil, fmt.Errorf("making request: %v", err)
	}
	if !a.socket {
		req.Header.Set("Origin", a.origin)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := a.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach Caddy's admin endpoint at %s: %v (is Caddy running? name the endpoint with --address or --config)", a.addr, err)
	}
	if resp.StatusCode < 400 {
		return resp, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return nil, parseOpError(resp.StatusCode, b)
}

// parseOpError reads an error body: guestgate's {"error": {"code", "message",
// "field"}} or Caddy's own {"error": "..."}.
func parseOpError(status int, body []byte) error {
	e := &opError{Status: status}
	var env admin.ErrorJSON
	if json.Unmarshal(body, &env) == nil && env.Error.Message != "" {
		e.APIError = env.Error
		return e
	}
	var caddyErr struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &caddyErr) == nil && caddyErr.Error != "" {
		e.Message = caddyErr.Error
		return e
	}
	e.Message = strings.TrimSpace(string(body))
	if e.Message == "" {
		e.Message = http.StatusText(status)
	}
	if status == http.StatusNotFound && !strings.Contains(e.Message, "guestgate") && !bytes.Contains(body, []byte(`"code"`)) {
		e.Message += " (is guestgate in this Caddy? 'caddy list-modules' should show admin.api.guestgate)"
	}
	return e
}

// callJSON sends body (if not nil) as JSON and returns the answer's body; a
// 204 answer gives nil.
func (a *adminClient) callJSON(method, path string, query url.Values, body any) ([]byte, int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var r io.Reader
	header := http.Header{}
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, 0, err
		}
		r = bytes.NewReader(b)
		header.Set("Content-Type", "application/json")
	}
	resp, err := a.request(ctx, method, path, query, r, header)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, resp.StatusCode, fmt.Errorf("reading the answer: %v", err)
	}
	return out, resp.StatusCode, nil
}

// apiPath is the path of a moderator API call on the admin endpoint; parts are
// escaped.
func apiPath(parts ...string) string {
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return admin.EndpointPrefix + "api/rooms/" + strings.Join(parts, "/")
}

// reloadRunningConfig loads the running configuration again, forced, the way
// "caddy reload --force" does with a file: GET /config/, then POST /load with
// Cache-Control: must-revalidate.
func (a *adminClient) reloadRunningConfig() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	resp, err := a.request(ctx, http.MethodGet, "/config/", nil, nil, nil)
	if err != nil {
		return err
	}
	cfg, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return fmt.Errorf("reading the running configuration: %v", err)
	}
	resp, err = a.request(ctx, http.MethodPost, "/load", nil, bytes.NewReader(cfg), http.Header{
		"Content-Type":  {"application/json"},
		"Cache-Control": {"must-revalidate"},
	})
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}
