package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/guestgate/guestgate/guestlink"
	"github.com/guestgate/guestgate/internal/ratelimit"
	"github.com/guestgate/guestgate/internal/smtptest"
	"github.com/guestgate/guestgate/internal/teststore"
	"github.com/guestgate/guestgate/mailer"
)

// trickyRoomName is a room name that HTML must escape.
const trickyRoomName = "<b>Tom & Jerry</b>"

// newMailHandler is a handler over a new store with the room "tj" named
// trickyRoomName, sending email with m (none if nil); the errors it reports
// to OnError are returned through the func.
func newMailHandler(t *testing.T, m Mailer) (*Handler, func() []string) {
	t.Helper()
	svc, _ := teststore.Service(t, epoch)
	if _, _, err := svc.PutRoom(context.Background(), "tj", guestlink.RoomSpec{Name: trickyRoomName}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var logged []string
	h, err := New(Config{
		Service: svc, Authenticators: apiKeys(t, testKey), LinkBase: "https://rooms.example.com/guest/", Mailer: m,
		OnError: func(_ *http.Request, err error) {
			mu.Lock()
			defer mu.Unlock()
			logged = append(logged, err.Error())
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return h, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), logged...)
	}
}

// smtpMailer is a mailer for the test server srv, without TLS (loopback).
func smtpMailer(t *testing.T, srv *smtptest.Server) *mailer.Mailer {
	t.Helper()
	m, err := mailer.New(mailer.Config{Server: srv.Addr, TLS: mailer.TLSNone, From: "Guest access <rooms@example.com>"})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// createInvitation posts body to the room tj's invitations with the
// Accept-Language header acceptLanguage.
func createInvitation(t *testing.T, h http.Handler, body, acceptLanguage string) result {
	t.Helper()
	r := httptest.NewRequest("POST", "http://rooms.test/api/rooms/tj/invitations", strings.NewReader(body))
	r.Header.Set("Authorization", "Bearer "+testKey)
	if acceptLanguage != "" {
		r.Header.Set("Accept-Language", acceptLanguage)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	res := result{status: w.Code, header: w.Header()}
	if err := json.Unmarshal(w.Body.Bytes(), &res.body); err != nil {
		t.Fatalf("POST invitations: bad JSON %q", w.Body.String())
	}
	return res
}

// TestInvitationEmail sends invitations through a real SMTP server on
// 127.0.0.1 and reads what it received: one message to the invitee from the
// configured sender, whose subject, plain text and HTML parts say the room,
// the role, the link (the answer's url, in both parts), its expiry and its
// opening time, in the language asked for (the request's "language", else
// its Accept-Language, else English), with the room's name escaped in the
// HTML; and the answer says it was sent, in which language, while the
// invitation as GET lists it keeps its shape.
func TestInvitationEmail(t *testing.T) {
	for _, tc := range []struct {
		name, extra, acceptLanguage string
		wantLang, subject, lead     string
		wantDir, personal           string
	}{
		{
			name: "english by default", acceptLanguage: "fr-FR,fr;q=0.9",
			wantLang: "en", subject: "Invitation to " + trickyRoomName, lead: "You are invited to " + trickyRoomName + " as speaker.",
			wantDir: "ltr", personal: "This link is for you alone",
		},
		{
			name: "german from Accept-Language", acceptLanguage: "de-AT,de;q=0.9,en;q=0.5",
			wantLang: "de", subject: "Einladung zu " + trickyRoomName, lead: "Sie sind eingeladen zu " + trickyRoomName + ", mit der Rolle Sprecher.",
			wantDir: "ltr", personal: "Dieser Link ist nur für Sie",
		},
		{
			name: "hebrew from the language field", extra: `,"language":"he"`, acceptLanguage: "de",
			wantLang: "he", subject: "הזמנה אל " + trickyRoomName, lead: "הוזמנתם אל " + trickyRoomName + " בתפקיד דובר.",
			wantDir: "rtl", personal: "הקישור הזה מיועד לכם בלבד",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := smtptest.Start(t, smtptest.Options{})
			h, logged := newMailHandler(t, smtpMailer(t, srv))
			body := `{"email":"ada@example.org","name":"Ada <Lovelace>","role":"speaker","duration_hours":48,"not_before":"2026-04-17T09:30:00Z","send_email":true` + tc.extra + `}`
			res := createInvitation(t, h, body, tc.acceptLanguage)
			if res.status != http.StatusCreated {
				t.Fatalf("POST: %d %v", res.status, res.body)
			}
			delivery, _ := res.body["email_delivery"].(map[string]any)
			if delivery["sent"] != true || delivery["language"] != tc.wantLang || delivery["error"] != nil {
				t.Fatalf("email_delivery = %v, want sent in %s", res.body["email_delivery"], tc.wantLang)
			}
			url, _ := res.body["url"].(string)
			if !strings.HasPrefix(url, "https://rooms.example.com/guest/") {
				t.Fatalf("url %q", url)
			}
			if l := logged(); len(l) != 0 {
				t.Errorf("logged %q for a message sent", l)
			}
			msgs := srv.Messages()
			if len(msgs) != 1 {
				t.Fatalf("the server received %d messages, want 1", len(msgs))
			}
			if msgs[0].From != "rooms@example.com" || strings.Join(msgs[0].To, ",") != "ada@example.org" {
				t.Fatalf("envelope from %q to %q", msgs[0].From, msgs[0].To)
			}
			p, err := msgs[0].Parse()
			if err != nil {
				t.Fatal(err)
			}
			if got := p.Header.Get("To"); got != "<ada@example.org>" {
				t.Errorf("To: %q", got)
			}
			if got := p.Header.Get("From"); got != `"Guest access" <rooms@example.com>` {
				t.Errorf("From: %q", got)
			}
			if got := p.Header.Get("Content-Language"); got != tc.wantLang {
				t.Errorf("Content-Language: %q, want %q", got, tc.wantLang)
			}
			if p.Subject != tc.subject {
				t.Errorf("Subject: %q, want %q", p.Subject, tc.subject)
			}
			for _, want := range []string{tc.lead, url, "Ada <Lovelace>", "2026-04-18 10:00 UTC", "2026-04-17 09:30 UTC", tc.personal} {
				if !strings.Contains(p.Text, want) {
					t.Errorf("the text part lacks %q:\n%s", want, p.Text)
				}
			}
			escape := strings.NewReplacer("<", "&lt;", ">", "&gt;", "&", "&amp;").Replace
			for _, want := range []string{
				escape(tc.lead), `href="` + url + `"`, ">" + url + "</a>", "Ada &lt;Lovelace&gt;", "2026-04-18 10:00 UTC", "2026-04-17 09:30 UTC", tc.personal,
				`<html lang="` + tc.wantLang + `" dir="` + tc.wantDir + `">`,
			} {
				if !strings.Contains(p.HTML, want) {
					t.Errorf("the HTML part lacks %q:\n%s", want, p.HTML)
				}
			}
			for _, raw := range []string{"<b>Tom", "Jerry</b>", "<Lovelace>"} {
				if strings.Contains(p.HTML, raw) {
					t.Errorf("the HTML part holds %q unescaped", raw)
				}
			}
			// GET lists the invitation as before: no word of its email.
			list := do(t, h, "GET", "/api/rooms/tj/invitations", "", testKey)
			if list.status != http.StatusOK || len(list.list) != 1 {
				t.Fatalf("GET invitations: %d %v", list.status, list.list)
			}
			if _, ok := list.list[0].(map[string]any)["email_delivery"]; ok {
				t.Errorf("GET shows email_delivery: %v", list.list[0])
			}
		})
	}
}

// TestInvitationEmailNotSent: when the message does not go (the server
// refuses the recipient or the data, nothing listens, or the error quotes
// the message), the invitation is still created (201, and GET lists it),
// the answer says not sent and why, and the failure is reported to OnError
// with the invitation's id; neither the answer nor the report holds the
// link's token, nor the report the invitee's address (an email is logged
// only for an audit).
func TestInvitationEmailNotSent(t *testing.T) {
	closedPort := func(t *testing.T) Mailer {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		m, err := mailer.New(mailer.Config{Server: addr, TLS: mailer.TLSNone, From: "rooms@example.com"})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	for _, tc := range []struct {
		name      string
		mailer    func(t *testing.T) Mailer
		wantError string
		wantLog   string
	}{
		{
			name:      "recipient refused",
			mailer:    func(t *testing.T) Mailer { return smtpMailer(t, smtptest.Start(t, smtptest.Options{RefuseRcpt: true})) },
			wantError: "the mail server refused the recipient (550 5.1.1)", wantLog: "no such mailbox here",
		},
		{
			name:      "data refused",
			mailer:    func(t *testing.T) Mailer { return smtpMailer(t, smtptest.Start(t, smtptest.Options{RefuseData: true})) },
			wantError: "the mail server refused the message (554 5.7.1)", wantLog: "message refused as spam",
		},
		{
			name: "nothing listens", mailer: closedPort,
			wantError: "the mail server could not be reached", wantLog: "dial",
		},
		{
			name: "an error quoting the message",
			mailer: func(*testing.T) Mailer {
				return mailerFunc(func(_ context.Context, m mailer.Message) error {
					return fmt.Errorf("refused: %s", m.Text)
				})
			},
			wantError: "the mail server could not be reached", wantLog: "refused: Hello Ada",
		},
		{
			name: "an error quoting the address in another case",
			mailer: func(*testing.T) Mailer {
				return mailerFunc(func(_ context.Context, m mailer.Message) error {
					return fmt.Errorf("550 5.1.1 <%s>: no such user", strings.ToUpper(m.To))
				})
			},
			wantError: "the mail server could not be reached", wantLog: "550 5.1.1 <[invitee]>",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, logged := newMailHandler(t, tc.mailer(t))
			res := createInvitation(t, h, `{"email":"ada@example.org","name":"Ada","send_email":true}`, "")
			if res.status != http.StatusCreated {
				t.Fatalf("POST: %d %v, want 201", res.status, res.body)
			}
			delivery, _ := res.body["email_delivery"].(map[string]any)
			errText, _ := delivery["error"].(string)
			if delivery["sent"] != false || !strings.Contains(errText, tc.wantError) {
				t.Fatalf("email_delivery = %v, want not sent with %q", res.body["email_delivery"], tc.wantError)
			}
			url, _ := res.body["url"].(string)
			token := url[strings.LastIndex(url, "/")+1:]
			if len(token) != guestlink.TokenLen {
				t.Fatalf("url %q", url)
			}
			if strings.Contains(errText, token) {
				t.Errorf("the answer's error holds the token: %q", errText)
			}
			l := logged()
			if len(l) != 1 || !strings.Contains(l[0], res.body["id"].(string)) || !strings.Contains(l[0], tc.wantLog) {
				t.Fatalf("logged %q, want one report naming the invitation and %q", l, tc.wantLog)
			}
			if strings.Contains(l[0], token) || strings.Contains(strings.ToLower(l[0]+errText), "ada@example.org") {
				t.Errorf("the report holds the token or the invitee's address: %q", l[0])
			}
			if !strings.Contains(l[0], ErrEmailNotSent.Error()) {
				t.Errorf("the report %q does not say the email was not sent", l[0])
			}
			list := do(t, h, "GET", "/api/rooms/tj/invitations", "", testKey)
			if len(list.list) != 1 || list.list[0].(map[string]any)["id"] != res.body["id"] {
				t.Fatalf("GET invitations after a failed email: %v", list.list)
			}
		})
	}
}

type mailerFunc func(context.Context, mailer.Message) error

func (f mailerFunc) Send(ctx context.Context, m mailer.Message) error { return f(ctx, m) }

// TestInvitationEmailRequest: what makes the email impossible is refused
// before anything is stored (422 on the field at fault): send_email without
// an email block, a language the catalogue lacks, even without send_email.
// Without send_email nothing is sent and the answer has no email_delivery.
func TestInvitationEmailRequest(t *testing.T) {
	sent := 0
	counting := mailerFunc(func(context.Context, mailer.Message) error { sent++; return nil })
	for _, tc := range []struct {
		name        string
		mailer      Mailer
		body        string
		status      int
		field, msg  string
		invitations int
	}{
		{"send_email without an email block", nil, `{"email":"a@example.org","name":"A","send_email":true}`, 422, "send_email", "send_email: this gateway has no email block", 0},
		{"send_email false without an email block", nil, `{"email":"a@example.org","name":"A","send_email":false}`, 201, "", "", 1},
		{"unknown language", counting, `{"email":"a@example.org","name":"A","send_email":true,"language":"fr"}`, 422, "language", "language must be one of en, de, he", 0},
		{"a regional language", counting, `{"email":"a@example.org","name":"A","send_email":true,"language":"de-AT"}`, 422, "language", "language must be one of en, de, he", 0},
		{"unknown language without send_email", counting, `{"email":"a@example.org","name":"A","language":"fr"}`, 422, "language", "language must be one of en, de, he", 0},
		{"language without send_email", counting, `{"email":"a@example.org","name":"A","language":"de"}`, 201, "", "", 1},
		{"send_email not a boolean", counting, `{"email":"a@example.org","name":"A","send_email":"yes"}`, 422, "send_email", "send_email must be true or false", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sent = 0
			h, _ := newMailHandler(t, tc.mailer)
			res := createInvitation(t, h, tc.body, "")
			if res.status != tc.status {
				t.Fatalf("POST: %d %v, want %d", res.status, res.body, tc.status)
			}
			if code, field := errCode(res); tc.field != "" && (code != "invalid" || field != tc.field || !strings.Contains(res.body["error"].(map[string]any)["message"].(string), tc.msg)) {
				t.Errorf("error %v, want invalid on %s with %q", res.body["error"], tc.field, tc.msg)
			}
			if _, ok := res.body["email_delivery"]; ok || sent != 0 {
				t.Errorf("email_delivery %v and %d sent, want neither", res.body["email_delivery"], sent)
			}
			if list := do(t, h, "GET", "/api/rooms/tj/invitations", "", testKey); len(list.list) != tc.invitations {
				t.Errorf("%d invitations stored, want %d", len(list.list), tc.invitations)
			}
		})
	}
}

// TestInvitationEmailBudget: a room's invitation emails are bounded by
// EmailsPerRoom, whoever asks. Past it the invitation is still made (201,
// listed) but not mailed, the answer says why and OnError is told; another
// room has its own budget, and the room's refills with time.
func TestInvitationEmailBudget(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	svc, now := teststore.Service(t, epoch)
	for _, id := range []string{"tj", "other"} {
		if _, _, err := svc.PutRoom(context.Background(), id, guestlink.RoomSpec{}); err != nil {
			t.Fatal(err)
		}
	}
	var logged []string
	h, err := New(Config{
		Service: svc, Authenticators: apiKeys(t, testKey), LinkBase: "https://rooms.example.com/guest/", Mailer: smtpMailer(t, srv),
		EmailsPerRoom: ratelimit.Budget{Events: 2, Window: time.Hour},
		OnError:       func(_ *http.Request, err error) { logged = append(logged, err.Error()) },
	})
	if err != nil {
		t.Fatal(err)
	}
	invite := func(room string, i int) map[string]any {
		t.Helper()
		body := fmt.Sprintf(`{"email":"guest%d@example.org","name":"Guest %d","send_email":true}`, i, i)
		res := do(t, h, "POST", "/api/rooms/"+room+"/invitations", body, testKey)
		if res.status != http.StatusCreated {
			t.Fatalf("POST %s invitation %d: %d %v", room, i, res.status, res.body)
		}
		delivery, _ := res.body["email_delivery"].(map[string]any)
		return delivery
	}
	for i := range 2 {
		if d := invite("tj", i); d["sent"] != true {
			t.Fatalf("invitation %d within the budget: email_delivery %v", i, d)
		}
	}
	d := invite("tj", 2)
	if errText, _ := d["error"].(string); d["sent"] != false || !strings.Contains(errText, "2 invitation emails of 1h") {
		t.Fatalf("invitation past the budget: email_delivery %v, want not sent, saying why", d)
	}
	if len(logged) != 1 || !strings.Contains(logged[0], ErrEmailNotSent.Error()) || strings.Contains(logged[0], "guest2@") {
		t.Errorf("OnError was told %q", logged)
	}
	if list := do(t, h, "GET", "/api/rooms/tj/invitations", "", testKey); len(list.list) != 3 {
		t.Errorf("GET lists %d invitations, want the 3 made", len(list.list))
	}
	if d := invite("other", 3); d["sent"] != true {
		t.Errorf("another room's invitation: email_delivery %v, want sent", d)
	}
	*now = now.Add(30 * time.Minute) // one email of 2 an hour
	if d := invite("tj", 4); d["sent"] != true {
		t.Errorf("after half an hour: email_delivery %v, want sent", d)
	}
	if n := len(srv.Messages()); n != 4 {
		t.Errorf("the server received %d messages, want 4", n)
	}
}
