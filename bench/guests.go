package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/sync/errgroup"

	"github.com/guestgate/guestgate/guestlink"
	badgerstore "github.com/guestgate/guestgate/store/badger"
	"github.com/guestgate/guestgate/token"
)

// Secrets of the bench configs (never used elsewhere).
const (
	apiKey     = "guestgate-bench-api-key-0123456789"
	signingKey = "guestgate-bench-signing-key-0123456789abcdef"
)

// newIssuer returns the token issuer the gateway builds from the bench config
// (issuer "guestgate", audience token.SessionAudience, token_ttl 10m, session_max
// 12h): the bench mints cookies of pre-loaded guests with it, and the
// forward_auth endpoint verifies with it.
func newIssuer() (*token.Issuer, error) {
	return token.New(token.Config{
		Keys: [][]byte{[]byte(signingKey)}, Issuer: "guestgate", Audience: token.SessionAudience,
		TTL: 10 * time.Minute, MaxAge: 12 * time.Hour, Leeway: 5 * time.Second,
	})
}

// guestRef is what a session cookie of a stored guest needs.
type guestRef struct {
	ID, Room, Link, Name, Email string
	RedeemedAt                  time.Time
}

// mint issues a session token for g at now, as the entry form would have.
func mint(iss *token.Issuer, g guestRef, now time.Time) (string, error) {
	c := token.Claims{
		RegisteredClaims: jwt.RegisteredClaims{Subject: g.ID},
		Room:             g.Room, LinkID: g.Link, Name: g.Name, Email: g.Email,
		State: guestlink.StateAdmitted, AuthTime: g.RedeemedAt.Unix(),
	}
	tok, _, err := iss.Issue(c, now)
	return tok, err
}

// ---- moderator API ----

// api talks to the moderator API of one Caddy.
type api struct {
	base   string // http://127.0.0.1:<port>/guest-admin
	client *http.Client
}

func newAPI(base string) *api {
	tr := &http.Transport{MaxIdleConnsPerHost: 128, MaxConnsPerHost: 128, IdleConnTimeout: 30 * time.Second}
	return &api{base: base + "/guest-admin", client: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

func (a *api) close() { a.client.CloseIdleConnections() }

// call sends body as JSON and decodes the answer into out unless it is nil; an
// answer other than want is an error.
func (a *api) call(ctx context.Context, method, path string, body, out any, want ...int) error {
	var r io.Reader
	if body != nil {
		j, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, r)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+apiKey)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	ok := false
	for _, w := range want {
		ok = ok || resp.StatusCode == w
	}
	if !ok {
		return fmt.Errorf("%s %s: status %d: %s", method, path, resp.StatusCode, bytes.TrimSpace(b))
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: decoding %q: %w", method, path, b, err)
		}
	}
	return nil
}

// linkInfo is a link as the API shows it, with its token cut from the URL.
type linkInfo struct {
	ID     string `json:"id"`
	URL    string `json:"url"`
	Clicks int    `json:"clicks"`
	Room   string `json:"-"`
	Path   string `json:"-"` // /guest/<token>
	Token  string `json:"-"`
}

// openRoom creates room id with guest access on and n links (max clicks 0 =
// unlimited): 2 + n API requests.
func (a *api) openRoom(ctx context.Context, id string, n, maxClicks int) ([]linkInfo, error) {
	if err := a.call(ctx, http.MethodPut, "/api/rooms/"+id, map[string]any{"name": "Room " + id}, nil, http.StatusCreated, http.StatusOK); err != nil {
		return nil, err
	}
	if err := a.call(ctx, http.MethodPut, "/api/rooms/"+id+"/guest-access", map[string]any{"enabled": true}, nil, http.StatusOK); err != nil {
		return nil, err
	}
	var out []linkInfo
	for i := range n {
		spec := map[string]any{"name": fmt.Sprintf("Link %d", i+1)}
		if maxClicks > 0 {
			spec["max_clicks"] = maxClicks
		}
		var l linkInfo
		if err := a.call(ctx, http.MethodPost, "/api/rooms/"+id+"/links", spec, &l, http.StatusCreated); err != nil {
			return nil, err
		}
		u, err := url.Parse(l.URL)
		if err != nil || !strings.HasPrefix(u.Path, "/guest/") {
			return nil, fmt.Errorf("link URL %q is not under /guest/", l.URL)
		}
		l.Room, l.Path, l.Token = id, u.Path, strings.TrimPrefix(u.Path, "/guest/")
		out = append(out, l)
	}
	return out, nil
}

// clicks is the click count of a link, as the API lists it.
func (a *api) clicks(ctx context.Context, room, linkID string) (int, error) {
	var links []linkInfo
	if err := a.call(ctx, http.MethodGet, "/api/rooms/"+room+"/links", nil, &links, http.StatusOK); err != nil {
		return 0, err
	}
	for _, l := range links {
		if l.ID == linkID {
			return l.Clicks, nil
		}
	}
	return 0, fmt.Errorf("room %s has no link %s", room, linkID)
}

// loadRooms opens rooms room-000000 ... through the API with workers
// concurrent clients, 3 unlimited links each. It returns the links and the API
// requests per second.
func (a *api) loadRooms(ctx context.Context, rooms, workers int) ([]linkInfo, float64, error) {
	var mu sync.Mutex
	links := make([]linkInfo, 0, 3*rooms)
	start := time.Now()
	err := forEach(ctx, workers, int64(rooms), func(ctx context.Context, i int64) error {
		ls, err := a.openRoom(ctx, fmt.Sprintf("room-%06d", i), 3, 0)
		if err != nil {
			return err
		}
		mu.Lock()
		links = append(links, ls...)
		mu.Unlock()
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return links, float64(rooms*5) / time.Since(start).Seconds(), nil
}

// forEach calls fn(ctx, i) for i = 0 .. n-1 on at most workers goroutines. The
// first error stops the calls not yet started, cancels the context the others
// got, and is returned; otherwise it returns ctx's error, if any.
func forEach(ctx context.Context, workers int, n int64, fn func(context.Context, int64) error) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(workers)
	for i := int64(0); i < n && gctx.Err() == nil; i++ {
		g.Go(func() error { return fn(gctx, i) })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return ctx.Err()
}

// ---- redemption over HTTP ----

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]*)"`)

// cookieValue returns the value of cookie name in resp's Set-Cookie headers.
func cookieValue(resp *http.Response, name string) string {
	for _, c := range resp.Cookies() {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// redemption is the outcome of one guest's GET + POST.
type redemption struct {
	status  int    // of the POST, or of the GET when it was not 200
	session string // the session cookie on a 303
}

// redeem opens the entry page at path on a new connection from the guest's own
// address, reads the anti-CSRF field and cookie, and submits the form as a
// browser does. The connection is closed afterwards.
func redeem(addr, path string, guest int64) (redemption, error) {
	k := &rawConn{addr: addr, local: guestIP(guest)}
	defer k.close()
	resp, body, err := k.do(getRequest(addr, path), true)
	if err != nil {
		return redemption{}, fmt.Errorf("GET entry page: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return redemption{status: resp.StatusCode}, nil
	}
	m := csrfField.FindSubmatch(body)
	csrfCookie := cookieValue(resp, "guestgate-csrf")
	if m == nil || csrfCookie == "" {
		return redemption{}, errors.New("entry page without a csrf field or cookie")
	}
	form := url.Values{
		"name":  {"Guest " + strconv.FormatInt(guest, 10)},
		"email": {"guest" + strconv.FormatInt(guest, 10) + "@example.com"},
		"csrf":  {string(m[1])},
	}.Encode()
	post := "POST " + path + " HTTP/1.1\r\nHost: " + addr + "\r\nUser-Agent: guestgate-bench\r\n" +
		"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: " + strconv.Itoa(len(form)) + "\r\n" +
		"Cookie: guestgate-csrf=" + csrfCookie + "\r\n\r\n" + form
	resp, _, err = k.do([]byte(post), false)
	if err != nil {
		return redemption{}, fmt.Errorf("POST entry form: %w", err)
	}
	r := redemption{status: resp.StatusCode}
	if resp.StatusCode == http.StatusSeeOther {
		r.session = cookieValue(resp, "guestgate")
		if r.session == "" {
			return r, errors.New("303 without the session cookie")
		}
	}
	return r, nil
}

// burst is the result of a redemption run.
type burst struct {
	Setup     string // the store and its instances, in the postgres part
	Case      string
	Attempts  int64
	Admitted  int64 // 303
	Refused   int64 // 4xx
	Server    int64 // 5xx
	Errors    int64 // network or protocol errors
	Codes     map[int]int64
	Elapsed   time.Duration
	Rate      float64 // admitted per second, until the last admission
	P50, P99  time.Duration
	Clicks    int // from the API (hot link)
	MaxClicks int
	Check     string

	// CPU is what the Caddy processes, the database server and this process
	// ran during the burst (the postgres part measures it).
	CPU cpuTimes

	hist   *histogram    // latencies of the 303s
	active time.Duration // from the start until the last 303
}

// cpuTimes are CPU times of the processes of a burst.
type cpuTimes struct{ Caddy, DB, Load time.Duration }

func (c cpuTimes) plus(o cpuTimes) cpuTimes {
	return cpuTimes{c.Caddy + o.Caddy, c.DB + o.DB, c.Load + o.Load}
}

func (c cpuTimes) minus(o cpuTimes) cpuTimes {
	return cpuTimes{c.Caddy - o.Caddy, c.DB - o.DB, c.Load - o.Load}
}

// add merges o, a slice of the same case, into b.
func (b *burst) add(o burst) {
	if b.hist == nil {
		b.hist, b.Codes = new(histogram), map[int]int64{}
	}
	b.hist.merge(o.hist)
	for k, n := range o.Codes {
		b.Codes[k] += n
	}
	b.Case = o.Case
	b.Attempts, b.Admitted, b.Refused = b.Attempts+o.Attempts, b.Admitted+o.Admitted, b.Refused+o.Refused
	b.Server, b.Errors = b.Server+o.Server, b.Errors+o.Errors
	b.Elapsed, b.active, b.CPU = b.Elapsed+o.Elapsed, b.active+o.active, b.CPU.plus(o.CPU)
	if b.active > 0 {
		b.Rate = float64(b.Admitted) / b.active.Seconds()
	}
	b.P50, b.P99 = b.hist.quantile(0.5), b.hist.quantile(0.99)
}

// redeemBurst runs workers concurrent guests over paths: guest n redeems
// paths[n % len(paths)] through addrs[n % len(addrs)], each on a new
// connection from its own address, until maxAttempts guests have tried or dur
// has passed (dur 0: no time bound).
func redeemBurst(ctx context.Context, name string, addrs, paths []string, workers int, maxAttempts int64, dur time.Duration, firstGuest int64) (burst, error) {
	var (
		next     atomic.Int64
		mu       sync.Mutex
		wg       sync.WaitGroup
		hist     = new(histogram)
		b        = burst{Case: name, Codes: map[int]int64{}, hist: hist}
		lastOK   time.Time
		firstErr error
	)
	start := time.Now()
	deadline := time.Time{}
	if dur > 0 {
		deadline = start.Add(dur)
	}
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil && (deadline.IsZero() || time.Now().Before(deadline)) {
				n := next.Add(1) - 1
				if n >= maxAttempts {
					return
				}
				t0 := time.Now()
				r, err := redeem(addrs[n%int64(len(addrs))], paths[n%int64(len(paths))], firstGuest+n)
				took := time.Since(t0)
				mu.Lock()
				b.Attempts++
				switch {
				case err != nil:
					b.Errors++
					if firstErr == nil {
						firstErr = err
					}
				case r.status == http.StatusSeeOther:
					b.Admitted++
					hist.record(took)
					if end := t0.Add(took); end.After(lastOK) {
						lastOK = end
					}
				case r.status >= 500:
					b.Server++
					b.Codes[r.status]++
				default:
					b.Refused++
					b.Codes[r.status]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	b.Elapsed = time.Since(start)
	if b.Admitted > 0 {
		b.active = lastOK.Sub(start)
		b.Rate = float64(b.Admitted) / b.active.Seconds()
	}
	b.P50, b.P99 = hist.quantile(0.5), hist.quantile(0.99)
	if err := ctx.Err(); err != nil {
		return b, err
	}
	if firstErr != nil && b.Errors > b.Attempts/100 {
		return b, fmt.Errorf("%s: %d of %d redemptions failed, first: %w", name, b.Errors, b.Attempts, firstErr)
	}
	return b, nil
}

// ---- offline loading ----

// loadGuests opens the store in dir (Caddy must not run on it) and redeems
// perRoom guests in every room of links, spread over the room's links, with
// workers goroutines, through guestlink.Service as the entry form does (one
// synced transaction each). It returns up to sample guests, spread evenly, and
// the redemptions per second.
func loadGuests(ctx context.Context, dir string, links []linkInfo, perRoom, workers, sample int) ([]guestRef, float64, error) {
	st, err := badgerstore.Open(dir, badgerstore.Options{})
	if err != nil {
		return nil, 0, err
	}
	defer st.Close()
	svc := &guestlink.Service{Store: st, Now: time.Now}
	byRoom := map[string][]linkInfo{}
	var rooms []string
	for _, l := range links {
		if _, ok := byRoom[l.Room]; !ok {
			rooms = append(rooms, l.Room)
		}
		byRoom[l.Room] = append(byRoom[l.Room], l)
	}
	total := int64(len(rooms) * perRoom)
	every := max(total/int64(max(sample, 1)), 1)
	var (
		mu  sync.Mutex
		out []guestRef
	)
	start := time.Now()
	err = forEach(ctx, workers, total, func(ctx context.Context, n int64) error {
		// Guest n: room n % rooms, so that consecutive guests go to
		// different rooms, then the room's links in turn.
		room := rooms[n%int64(len(rooms))]
		ls := byRoom[room]
		l := ls[(n/int64(len(rooms)))%int64(len(ls))]
		in := guestlink.GuestInput{Name: "Guest " + strconv.FormatInt(n, 10), Email: "guest" + strconv.FormatInt(n, 10) + "@example.com"}
		_, _, g, err := svc.Redeem(ctx, l.Token, in)
		if err != nil {
			return fmt.Errorf("redeeming guest %d offline: %w", n, err)
		}
		if n%every == 0 {
			mu.Lock()
			if len(out) < sample {
				out = append(out, guestRef{ID: g.ID, Room: g.RoomID, Link: g.LinkID, Name: g.Name, Email: g.Email, RedeemedAt: g.RedeemedAt})
			}
			mu.Unlock()
		}
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	rate := float64(total) / time.Since(start).Seconds()
	if err := st.Close(); err != nil {
		return nil, 0, err
	}
	return out, rate, nil
}
