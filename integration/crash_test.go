package integration

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/guestgate/guestgate/internal/testcaddy"
)

// TestCrashSafety: the real binary redeems a link with max
// clicks N under a burst of concurrent guests and is killed with SIGKILL at a
// random moment of the burst; started again on the same store, the stored click
// count is at least the number of guests who got their 303 and session cookie
// (an acknowledged redemption is never lost) and at most N (a crash never
// over-grants). 20 rounds.
func TestCrashSafety(t *testing.T) {
	const (
		rounds  = 20
		maxN    = 20 // the link's max clicks
		clients = 40 // guests per burst, each GET + POST
	)
	bin := testcaddy.Binary(t)
	began := time.Now()
	dir := t.TempDir()
	env := testcaddy.Env(dir)

	g := newGateway(t) // run as a process below, not in this one
	cfgPath := filepath.Join(dir, "Caddyfile")
	g.writeCaddyfile(cfgPath, config{})

	proc, _ := testcaddy.Run(t, bin, cfgPath, env, g.base+"/")
	var (
		summary  []string
		partial  int // rounds killed while some, not all, redemptions were acknowledged
		restarts time.Duration
	)
	for round := 1; round <= rounds; round++ {
		room := fmt.Sprintf("crash%d", round)
		l := g.openRoomWithLink(room, map[string]any{"name": "Crash", "max_clicks": maxN})
		path := linkPath(t, l)

		// The burst: every guest opens the entry page and submits it, on its own
		// connection (the process dies under them).
		tr := &http.Transport{DisableKeepAlives: true, ResponseHeaderTimeout: 10 * time.Second}
		var (
			mu        sync.Mutex
			granted   int // 303 to the room with a session cookie
			other     = map[string]int{}
			wg        sync.WaitGroup
			start     = make(chan struct{})
			transport int
			// posting and acked tell the killer how far the burst is: a POST is
			// about to be sent, a redemption was acknowledged.
			posting = make(chan struct{}, clients)
			acked   = make(chan struct{}, clients)
			done    = make(chan struct{})
		)
		for range clients {
			wg.Go(func() {
				jar, _ := cookiejar.New(nil)
				c := &http.Client{Transport: tr, Jar: jar, Timeout: 15 * time.Second,
					CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
				<-start
				outcome := func() string {
					resp, err := c.Get(g.base + path)
					if err != nil {
						return "transport error (GET)"
					}
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					csrf := page{Body: string(body)}.csrf()
					if resp.StatusCode != http.StatusOK || csrf == "" {
						return fmt.Sprintf("GET %d", resp.StatusCode)
					}
					form := url.Values{"name": {"Guest"}, "email": {"guest@example.com"}, "csrf": {csrf}}
					posting <- struct{}{}
					resp, err = c.Post(g.base+path, "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
					if err != nil {
						return "transport error (POST)"
					}
					body, _ = io.ReadAll(resp.Body)
					resp.Body.Close()
					p := page{Status: resp.StatusCode, Header: resp.Header, Body: string(body)}
					if p.Status == http.StatusSeeOther && p.Header.Get("Location") == "/rooms/"+room && p.sessionCookie() != nil {
						acked <- struct{}{}
						return "granted"
					}
					return fmt.Sprintf("POST %d %s", p.Status, p.reason())
				}()
				mu.Lock()
				defer mu.Unlock()
				switch {
				case outcome == "granted":
					granted++
				case strings.HasPrefix(outcome, "transport error"):
					transport++
				default:
					other[outcome]++
				}
			})
		}
		// The random moment: after the first POST is sent (k = 0) or after the
		// k-th acknowledged redemption, plus up to 3 ms, so that the kill lands
		// inside the burst, often in the middle of a redemption.
		go func() { wg.Wait(); close(done) }()
		aim, jitter := rand.IntN(maxN), time.Duration(rand.IntN(3000))*time.Microsecond
		k := aim
		close(start)
		burst := time.Now()
		wait := acked
		if k == 0 {
			k, wait = 1, posting
		}
	waitLoop:
		for seen := 0; seen < k; seen++ {
			select {
			case <-wait:
			case <-done:
				break waitLoop
			}
		}
		time.Sleep(jitter)
		killAfter := time.Since(burst)
		if err := proc.Kill(); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		wg.Wait()
		tr.CloseIdleConnections()
		g.tr.CloseIdleConnections()

		restart := time.Now()
		proc, _ = testcaddy.Run(t, bin, cfgPath, env, g.base+"/")
		restarts += time.Since(restart)
		stored := g.clicks(room, l.ID)
		if stored < granted || stored > maxN {
			t.Errorf("round %d (killed after %v): stored clicks %d, want between the %d acknowledged redemptions and %d",
				round, killAfter, stored, granted, maxN)
		}
		if lines := lockLines(proc.Log()); len(lines) > 0 {
			t.Errorf("round %d: caddy printed lock errors after the restart:\n%s", round, strings.Join(lines, "\n"))
		}
		if granted > 0 && granted < maxN {
			partial++
		}
		summary = append(summary, fmt.Sprintf("round %2d: killed %5.1fms into the burst (aimed at ack %2d; 0: the first POST), %2d acknowledged, %2d stored, %2d cut off, other %v",
			round, float64(killAfter.Microseconds())/1000, aim, granted, stored, transport, other))
	}
	// The store still works after all that: the last link redeems.
	l := g.openRoomWithLink("after", map[string]any{"name": "After", "max_clicks": 1})
	g.browser().mustRedeem(linkPath(t, l), "Ada", "ada@example.com", "after")
	if n := g.clicks("after", l.ID); n != 1 {
		t.Errorf("after the crashes a redemption counts %d clicks, want 1", n)
	}
	if err := proc.Stop(20 * time.Second); err != nil {
		t.Fatalf("%v\n%s", err, proc.Log())
	}

	t.Logf("%d rounds of %d guests on a %d-click link, SIGKILL at a random moment (%d rounds cut the burst between its first and its %dth acknowledged redemption); %d restarts took %v in all; the rounds %v after the build",
		rounds, clients, maxN, partial, maxN, rounds, restarts.Round(time.Millisecond), time.Since(began).Round(time.Millisecond))
	for _, s := range summary {
		t.Log(s)
	}
}
