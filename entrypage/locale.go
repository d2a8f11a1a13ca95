package entrypage

import (
	"fmt"
	"html/template"

	"golang.org/x/text/language"
	"golang.org/x/text/message"
	"golang.org/x/text/number"

	"github.com/guestgate/guestgate/guestlink"
	"github.com/guestgate/guestgate/i18n"
)

// PageData is what every guest page template is executed with: the embedded
// templates and a theme's overrides (theme templates) alike. Fields a page does
// not use are empty. A template that names a field or method not listed here
// is refused at provision.
type PageData struct {
	// Lang is the page's language tag ("en", "de", "he") for <html lang>; Dir is
	// its direction ("ltr", or "rtl" for Hebrew) for <html dir>.
	Lang, Dir string
	// Title is the page's own title for <title> (the theme title is SiteTitle).
	Title string
	// Prefix is the path of the guest pages, like "/guest"; the assets are under
	// {Prefix}/assets/.
	Prefix string

	// SiteTitle is the theme's title, shown above the card and in <title>.
	SiteTitle string
	// LogoURL is the path of the theme's logo, empty without a logo.
	LogoURL string
	// ThemeCSS is the path of the stylesheet with the theme's accent colour,
	// empty without an accent.
	ThemeCSS string

	// Reason is the message page's data-reason (docs/DESIGN.md section 1); Heading and
	// Text are its heading and sentence; Back, if not empty, is a path back
	// into the session.
	Reason, Heading, Text, Back string
	// Opens is the opening time on a not-yet-open page; nil elsewhere.
	Opens *opening

	// RoomName is the room's display name (entry and lobby pages, and message
	// pages when the room is known).
	RoomName string

	// Action is the entry form's action, CSRF its anti-CSRF field (the form
	// must post it as "csrf"); Name and Email are the values typed so far.
	Action, CSRF, Name, Email string
	// InvitedAs is the role an invitation's entry page invites to, in the
	// page's language; "" on a guest link's.
	InvitedAs string
	// FormError is an error about the whole form; Errors holds an error per
	// field ("name", "email"), every rejected field at once.
	FormError string
	Errors    map[string]string

	// GuestName is the waiting guest's name; StatusURL is polled by lobby.js
	// (data-status-url on <body>); Refresh is the refresh interval in seconds
	// for browsers without JavaScript.
	GuestName, StatusURL string
	// LobbyMessage is what the moderator tells the lobby; "" for nothing.
	LobbyMessage string
	Refresh      int

	loc locale
}

// T returns message key of the catalogue in the page's language, formatted
// with args (fmt verbs). Integers are formatted as the language writes them.
func (d PageData) T(key string, args ...any) string {
	return d.loc.t(key, args...)
}

// TStrong is T with every argument set in bold and isolated for bidirectional
// text (<strong><bdi>...</bdi></strong>); message and arguments are
// HTML-escaped.
func (d PageData) TStrong(key string, args ...any) template.HTML {
	msg := template.HTMLEscapeString(d.loc.t(key))
	wrapped := make([]any, len(args))
	for i, a := range args {
		wrapped[i] = "<strong><bdi>" + template.HTMLEscapeString(d.loc.format(a)) + "</bdi></strong>"
	}
	return template.HTML(fmt.Sprintf(msg, wrapped...)) //nolint:gosec // both parts are escaped above
}

// fieldError is the catalogue's sentence for a rejected entry form field:
// guest.error.<field>.<code>, or the domain's English message for a field or
// code the catalogue does not know.
func (d PageData) fieldError(v *guestlink.ValidationError) string {
	key := "guest.error." + v.Field + "." + v.Code
	if !d.loc.has(key) {
		return v.Message
	}
	switch {
	case v.Field == "name" && v.Code == guestlink.CodeTooLong:
		return d.T(key, guestlink.MaxGuestNameLen)
	case v.Field == "email" && v.Code == guestlink.CodeTooLong:
		return d.T(key, guestlink.MaxEmailLen)
	}
	return d.T(key)
}

// locale is a catalogue and a language.
type locale struct {
	cat *i18n.Catalog
	tag language.Tag
}

// t is the catalogue's message key with args formatted for the language.
func (l locale) t(key string, args ...any) string {
	if l.cat == nil {
		return key
	}
	if len(args) == 0 {
		return l.cat.T(l.tag, key)
	}
	formatted := make([]any, len(args))
	for i, a := range args {
		formatted[i] = l.format(a)
	}
	return l.cat.T(l.tag, key, formatted...)
}

// has reports whether the catalogue has key (in English, the fallback).
func (l locale) has(key string) bool {
	return l.cat != nil && l.cat.T(language.English, key) != key
}

// format renders a as text: integers with the language's digits and grouping
// (1,000 in English, 1.000 in German), everything else with fmt.
func (l locale) format(a any) string {
	switch n := a.(type) {
	case int, int64, int32, uint, uint64, uint32:
		return message.NewPrinter(l.tag).Sprint(number.Decimal(n))
	case string:
		return n
	}
	return fmt.Sprint(a)
}
