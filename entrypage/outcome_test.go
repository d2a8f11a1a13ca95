package entrypage_test

import (
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/guestgate/guestgate/entrypage"
	"github.com/guestgate/guestgate/guestlink"
	"github.com/guestgate/guestgate/internal/teststore"
)

// TestRedeemResults protects the redemption metric's reading of entry form
// posts: each post is counted once, as its answer says (a 303 is ok, a
// message page is its reason's result, a refused form is bad input), so that
// an operator's dashboard tells used-up links from guessed tokens.
func TestRedeemResults(t *testing.T) {
	svc, _ := teststore.Service(t, time.Now())
	ls := teststore.RoomWithLinks(t, svc, "demo", guestlink.RoomSpec{Name: "Demo"},
		guestlink.LinkSpec{Name: "Guests"}, guestlink.LinkSpec{Name: "Once", MaxClicks: new(1)})
	var results []string
	gw, _ := newGateway(t, svc, []string{"/rooms/{room}"}, func(c *entrypage.Config) {
		c.OnRedeem = func(result string, _ time.Duration) { results = append(results, result) }
	})
	open, once := "/guest/"+ls[0].Token, "/guest/"+ls[1].Token
	// A guest who opened the 1-click link's page before its click went.
	late := newGuestBrowser(gw)
	lateForm := url.Values{"name": {"Cy"}, "email": {"cy@example.com"}, "csrf": csrfRE.FindStringSubmatch(late.get(t, once).Body.String())[1:]}
	for _, tc := range []struct {
		name string
		post func(b *guestBrowser) *httptest.ResponseRecorder
		want string
	}{
		{"redeemed", func(b *guestBrowser) *httptest.ResponseRecorder { return b.submit(t, open, "Ada", "ada@example.com") }, entrypage.RedeemOK},
		{"the last click", func(b *guestBrowser) *httptest.ResponseRecorder { return b.submit(t, once, "Bea", "bea@example.com") }, entrypage.RedeemOK},
		{"used up", func(*guestBrowser) *httptest.ResponseRecorder { return late.post(t, once, lateForm) }, entrypage.RedeemUsedUp},
		{"unknown token", func(b *guestBrowser) *httptest.ResponseRecorder {
			return b.post(t, "/guest/"+strings.Repeat("A", guestlink.TokenLen), url.Values{"name": {"Di"}, "email": {"di@example.com"}})
		}, entrypage.RedeemInvalid},
		{"no CSRF field", func(b *guestBrowser) *httptest.ResponseRecorder {
			return b.post(t, open, url.Values{"name": {"Ed"}, "email": {"ed@example.com"}})
		}, entrypage.RedeemBadInput},
	} {
		results = results[:0]
		w := tc.post(newGuestBrowser(gw))
		if len(results) != 1 || results[0] != tc.want {
			t.Errorf("%s: answered %d, counted %v, want [%s]", tc.name, w.Code, results, tc.want)
		}
	}
}
