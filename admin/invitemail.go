package admin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"regexp"
	"strings"
	"time"

	"golang.org/x/text/language"

	"github.com/guestgate/guestgate/guestlink"
	"github.com/guestgate/guestgate/i18n"
	"github.com/guestgate/guestgate/mailer"
)

// Invitation emails: "send_email": true on POST .../invitations sends the
// invitee their link, the product's "Send link via email" (docs/DESIGN.md
// section 8), once the invitation is stored. The message, plain text and
// HTML, is in the invitee's language ("language", else the request's
// Accept-Language, else English) and says the room, the role, the link, its
// expiry and, if set, its opening time. Whether the SMTP server accepted it
// is in the 201 answer (email_delivery); a failure never undoes the
// invitation, and is told to OnError without the link's token.

// Mailer sends one email; *mailer.Mailer is one. Send returns nil once the
// SMTP server has accepted the message; its error is for the log, and
// mailer.Summary of it for the client.
type Mailer interface {
	Send(ctx context.Context, msg mailer.Message) error
}

// EmailDeliveryJSON is what became of an invitation's email, in the answer
// of POST .../invitations with send_email: Sent is true once the SMTP server
// accepted the message (its delivery to the mailbox is the server's
// business); otherwise Error says why, without the server's address or
// words. Language is the message's language: "en", "de" or "he".
type EmailDeliveryJSON struct {
	Sent     bool   `json:"sent"`
	Language string `json:"language"`
	Error    string `json:"error,omitempty"`
}

// InvitationCreatedJSON is the answer of POST .../invitations: the
// invitation as GET lists it and, only when send_email was true,
// email_delivery.
type InvitationCreatedJSON struct {
	InvitationJSON
	EmailDelivery *EmailDeliveryJSON `json:"email_delivery,omitempty"`
}

// emailTimeFormat shows the link's times in the message, the same in every
// language: the invitee may be anywhere, so in UTC, and saying so.
const emailTimeFormat = "2006-01-02 15:04 UTC"

// emailLanguage is the language of the email a request asks for: lang, if
// given, must be one of the catalogue's languages by its base ("en", "de",
// "he"); otherwise the best match of the request's Accept-Language, English
// when nothing matches. ok is false for an unknown lang.
func emailLanguage(r *http.Request, lang string) (tag language.Tag, ok bool) {
	cat := i18n.Default()
	if lang == "" {
		return cat.Match(r.Header.Get("Accept-Language")), true
	}
	for _, t := range cat.Languages() {
		if t.String() == lang {
			return t, true
		}
	}
	return language.Und, false
}

// emailLanguages lists the catalogue's languages for an error message.
func emailLanguages() string {
	var names []string
	for _, t := range i18n.Default().Languages() {
		names = append(names, t.String())
	}
	return strings.Join(names, ", ")
}

// checkEmailRequest refuses, before anything is stored, what makes the
// email of q impossible: a language the catalogue lacks (even without
// send_email, so a typo is not ignored) and send_email without a mailer.
// It writes the 422 and returns false, or returns the email's language.
func (h *Handler) checkEmailRequest(w http.ResponseWriter, r *http.Request, q invitationRequest) (language.Tag, bool) {
	tag, ok := emailLanguage(r, q.Language)
	if !ok {
		writeError(w, http.StatusUnprocessableEntity, "invalid", "language must be one of "+emailLanguages(), "language")
		return tag, false
	}
	if q.SendEmail && h.mailer == nil {
		writeError(w, http.StatusUnprocessableEntity, "invalid", "send_email: this gateway has no email block, so it cannot send email", "send_email")
		return tag, false
	}
	return tag, true
}

// sendInvitation sends invitation v of room, whose URL is url, to its
// invitee in language tag and says how it went. A failure goes to OnError,
// wrapping ErrEmailNotSent, with the invitation's id, never its token or
// the invitee's address.
func (h *Handler) sendInvitation(r *http.Request, room guestlink.Room, v guestlink.Invitation, url string, tag language.Tag) *EmailDeliveryJSON {
	out := &EmailDeliveryJSON{Language: tag.String()}
	if !h.emails.Allow("room " + room.ID) {
		b := h.emails.Budget()
		out.Error = fmt.Sprintf("not sent: this room has had its %d invitation emails of %s; send the link another way, or try again later",
			b.Events, shortDuration(b.Window))
		if h.onErr != nil {
			h.onErr(r, fmt.Errorf("invitation %s of room %s: %w: the room's budget of emails is spent", v.ID, room.ID, ErrEmailNotSent))
		}
		return out
	}
	msg, err := invitationEmail(room, v, url, tag)
	if err == nil {
		// The invitation is stored: the message goes even if the client
		// gives up waiting; the mailer's timeout bounds it.
		err = h.mailer.Send(context.WithoutCancel(r.Context()), msg)
	}
	if err == nil {
		out.Sent = true
		return out
	}
	// The token opens the room and the address is the invitee's: neither
	// goes to the client or the log, should the mailer or the server quote
	// the message or the recipient.
	// A server may quote the address in another case than it was sent in.
	invitee := regexp.MustCompile("(?i)" + regexp.QuoteMeta(v.Email))
	scrub := func(s string) string {
		return invitee.ReplaceAllLiteralString(strings.ReplaceAll(s, v.Token, "[token]"), "[invitee]")
	}
	out.Error = scrub(mailer.Summary(err))
	if h.onErr != nil {
		h.onErr(r, fmt.Errorf("invitation %s of room %s: %w: %s", v.ID, room.ID, ErrEmailNotSent, scrub(err.Error())))
	}
	return out
}

// shortDuration is d as time.Duration writes it, without its zero minutes
// and seconds: "1h", "10m", "1h30m".
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// ErrEmailNotSent is in the error told to OnError when an invitation's email
// was not sent: the request itself succeeded.
var ErrEmailNotSent = errors.New("email to the invitee not sent")

// invitationMail is what the message says, in one language.
type invitationMail struct {
	Lang, Dir                       string
	Subject, Greeting, Lead, Open   string
	Button, URL, Expires, NotBefore string
	Personal                        string
}

// invitationHTML is the HTML part; html/template escapes every string that
// comes from the room, the invitation or the catalogue.
var invitationHTML = template.Must(template.New("invitation").Parse(`<!DOCTYPE html>
<html lang="{{.Lang}}" dir="{{.Dir}}">
<head><meta charset="utf-8"><title>{{.Subject}}</title></head>
<body style="font-family: system-ui, sans-serif; line-height: 1.5; color: #1a1a1a;">
<p>{{.Greeting}}</p>
<p>{{.Lead}}</p>
<p>{{.Open}}</p>
<p><a href="{{.URL}}" style="display: inline-block; padding: 10px 18px; background: #1f5fbf; color: #ffffff; text-decoration: none; border-radius: 6px;">{{.Button}}</a></p>
<p style="word-break: break-all;"><a href="{{.URL}}">{{.URL}}</a></p>
<p>{{.Expires}}{{with .NotBefore}} {{.}}{{end}}</p>
<p>{{.Personal}}</p>
</body>
</html>
`))

// invitationEmail composes the message of invitation v of room, whose URL is
// url, in language tag.
func invitationEmail(room guestlink.Room, v guestlink.Invitation, url string, tag language.Tag) (mailer.Message, error) {
	cat := i18n.Default()
	m := invitationMail{
		Lang: tag.String(), Dir: cat.Dir(tag),
		Subject:  cat.T(tag, "email.invitation.subject", room.Name),
		Greeting: cat.T(tag, "email.invitation.greeting", v.Name),
		Lead:     cat.T(tag, "email.invitation.lead", room.Name, cat.T(tag, "guest.role."+guestlink.RoleOrViewer(v.Role))),
		Open:     cat.T(tag, "email.invitation.open"),
		Button:   cat.T(tag, "email.invitation.button"),
		URL:      url,
		Expires:  cat.T(tag, "email.invitation.expires", v.ExpiresAt.UTC().Format(emailTimeFormat)),
		Personal: cat.T(tag, "email.invitation.personal"),
	}
	if !v.NotBefore.IsZero() {
		m.NotBefore = cat.T(tag, "email.invitation.not_before", v.NotBefore.UTC().Format(emailTimeFormat))
	}
	var html bytes.Buffer
	if err := invitationHTML.Execute(&html, m); err != nil {
		return mailer.Message{}, fmt.Errorf("invitation email: %w", err)
	}
	text := m.Greeting + "\n\n" + m.Lead + "\n\n" + m.Open + "\n" + m.URL + "\n\n" +
		strings.TrimSpace(m.Expires+" "+m.NotBefore) + "\n" + m.Personal + "\n"
	return mailer.Message{To: v.Email, Subject: m.Subject, Text: text, HTML: html.String(), Language: m.Lang}, nil
}
