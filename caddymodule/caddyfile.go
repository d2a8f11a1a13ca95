package caddymodule

import (
	"regexp"
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/guestgate/guestgate/entrypage"
	"github.com/guestgate/guestgate/webhook"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("guest_gateway", parseGateway)
	httpcaddyfile.RegisterHandlerDirective("guest_admin", parseAdmin)
	// Both run just before reverse_proxy, guest_admin first (each registration
	// lands right before reverse_proxy), so no order option is needed; an
	// explicit "order guest_gateway before reverse_proxy" still works.
	httpcaddyfile.RegisterDirectiveOrder("guest_admin", httpcaddyfile.Before, "reverse_proxy")
	httpcaddyfile.RegisterDirectiveOrder("guest_gateway", httpcaddyfile.Before, "reverse_proxy")
}

func parseGateway(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	g := new(Gateway)
	return g, g.UnmarshalCaddyfile(h.Dispenser)
}

func parseAdmin(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	a := new(Admin)
	return a, a.UnmarshalCaddyfile(h.Dispenser)
}

// once refuses a second occurrence of the current subdirective (seen tracks
// them).
func once(d *caddyfile.Dispenser, seen map[string]bool) error {
	name := d.Val()
	if seen[name] {
		return d.Errf("duplicate subdirective '%s'", name)
	}
	seen[name] = true
	return nil
}

// oneArg reads the single argument of the current subdirective into *dst, refusing
// a second occurrence of the subdirective.
func oneArg(d *caddyfile.Dispenser, seen map[string]bool, dst *string) error {
	if err := once(d, seen); err != nil {
		return err
	}
	if !d.NextArg() {
		return d.ArgErr()
	}
	*dst = d.Val()
	if d.NextArg() {
		return d.ArgErr()
	}
	return nil
}

// repeatArg appends the single argument of a repeatable subdirective to *dst.
func repeatArg(d *caddyfile.Dispenser, dst *[]string) error {
	args := d.RemainingArgs()
	if len(args) != 1 {
		return d.ArgErr()
	}
	*dst = append(*dst, args[0])
	return nil
}

// flagArg sets *dst for a subdirective that takes no argument, refusing a
// second occurrence.
func flagArg(d *caddyfile.Dispenser, seen map[string]bool, dst *bool) error {
	if err := once(d, seen); err != nil {
		return err
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	*dst = true
	return nil
}

// parseBlock reads the block of the current subdirective: every line is an
// option of opts, given at most once, whose function reads the option's
// arguments. Errors name the block: "unrecognized theme option 'x'",
// "duplicate theme option 'x'".
func parseBlock(d *caddyfile.Dispenser, block string, opts map[string]func(args []string) error) error {
	seen := map[string]bool{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		name := d.Val()
		opt, ok := opts[name]
		if !ok {
			return d.Errf("unrecognized %s option '%s'", block, name)
		}
		if seen[name] {
			return d.Errf("duplicate %s option '%s'", block, name)
		}
		seen[name] = true
		if err := opt(d.RemainingArgs()); err != nil {
			return err
		}
	}
	return nil
}

func durationArg(d *caddyfile.Dispenser, seen map[string]bool, dst *caddy.Duration) error {
	name, s := d.Val(), ""
	if err := oneArg(d, seen, &s); err != nil {
		return err
	}
	dur, err := caddy.ParseDuration(s)
	if err != nil || dur <= 0 {
		return d.Errf("%s: invalid duration '%s'", name, s)
	}
	*dst = caddy.Duration(dur)
	return nil
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	guest_gateway [<matcher>] {
//	    store           <dir>
//	    signing_key     <key>            # repeatable, newest first
//	    identity_key    <base64 seed>    # Ed25519 for X-Guest-Token; default: kept in the store
//	    prefix          <path>           # default /guest
//	    room_path       <path>           # default /rooms/{room}
//	    allow           <patterns...>    # repeatable
//	    unauthenticated deny|pass        # default deny
//	    token_ttl       <duration>       # default 10m
//	    session_max     <duration>       # default 12h
//	    same_site       lax|strict|none  # default lax
//	    retention       <duration>       # default 720h
//	    frame_ancestors <origins...>     # default: no framing
//	    audit_emails                     # names and emails in audit lines
//	    rate_limit off
//	    rate_limit {
//	        lookups  <events> <window>   # default 30 1m
//	        requests <events> <window>   # default 3000 1m
//	    }
//	    theme {
//	        title     <text>             # above the card and in <title>
//	        logo      <file>             # PNG, JPEG, GIF, WebP or SVG, at most 512 KiB
//	        accent    "#rrggbb"          # quoted: # starts a comment; or rrggbb
//	        templates <dir>              # *.html overriding the embedded templates
//	    }
//	}
func (g *Gateway) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	seen := map[string]bool{}
	for d.NextBlock(0) {
		var err error
		switch d.Val() {
		case "store":
			err = oneArg(d, seen, &g.Store)
		case "signing_key":
			err = repeatArg(d, &g.SigningKeys)
		case "prefix":
			err = oneArg(d, seen, &g.Prefix)
		case "identity_key":
			err = oneArg(d, seen, &g.IdentityKey)
		case "room_path":
			err = oneArg(d, seen, &g.RoomPath)
		case "allow":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			g.Allow = append(g.Allow, args...)
		case "unauthenticated":
			if err = oneArg(d, seen, &g.Unauthenticated); err == nil && g.Unauthenticated != "deny" && g.Unauthenticated != "pass" {
				err = d.Errf("unauthenticated: must be 'deny' or 'pass', got '%s'", g.Unauthenticated)
			}
		case "token_ttl":
			err = durationArg(d, seen, &g.TokenTTL)
		case "session_max":
			err = durationArg(d, seen, &g.SessionMax)
		case "retention":
			err = durationArg(d, seen, &g.Retention)
		case "audit_emails":
			err = flagArg(d, seen, &g.AuditEmails)
		case "frame_ancestors":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			g.FrameAncestors = append(g.FrameAncestors, args...)
		case "rate_limit":
			g.RateLimit = new(RateLimit)
			err = parseRateLimit(d, seen, &g.RateLimit.Off, map[string]**RateBudget{
				"lookups": &g.RateLimit.Lookups, "requests": &g.RateLimit.Requests,
			})
		case "theme":
			err = parseTheme(d, seen, g)
		case "same_site":
			if err = oneArg(d, seen, &g.SameSite); err == nil {
				if _, ok := sameSiteModes[g.SameSite]; !ok {
					err = d.Errf("same_site: must be 'lax', 'strict' or 'none', got '%s'", g.SameSite)
				}
			}
		default:
			return d.Errf("unrecognized subdirective '%s'", d.Val())
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// parseRateLimit reads "rate_limit off" (setting *off) or a rate_limit block
// whose options, each "<option> <events> <window>", are the budgets of budgets.
func parseRateLimit(d *caddyfile.Dispenser, seen map[string]bool, off *bool, budgets map[string]**RateBudget) error {
	if err := once(d, seen); err != nil {
		return err
	}
	args := d.RemainingArgs()
	switch {
	case len(args) == 1 && args[0] == "off":
		*off = true
		return nil
	case len(args) != 0:
		return d.ArgErr()
	}
	opts := map[string]func([]string) error{}
	for name, dst := range budgets {
		opts[name] = func(args []string) error {
			if len(args) != 2 {
				return d.ArgErr()
			}
			n, err := strconv.Atoi(args[0])
			if err != nil || n < 1 {
				return d.Errf("rate_limit %s: events must be a whole number of at least 1, got '%s'", name, args[0])
			}
			win, err := caddy.ParseDuration(args[1])
			if err != nil || win <= 0 {
				return d.Errf("rate_limit %s: invalid window '%s'", name, args[1])
			}
			*dst = &RateBudget{Events: n, Window: caddy.Duration(win)}
			return nil
		}
	}
	return parseBlock(d, "rate_limit", opts)
}

var bareHexColour = regexp.MustCompile(`^(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$`)

// parseTheme reads a theme block.
func parseTheme(d *caddyfile.Dispenser, seen map[string]bool, g *Gateway) error {
	if err := once(d, seen); err != nil {
		return err
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	t := new(Theme)
	g.Theme = t
	opts := map[string]func([]string) error{}
	for name, dst := range map[string]*string{"title": &t.Title, "logo": &t.Logo, "accent": &t.Accent, "templates": &t.Templates} {
		opts[name] = func(args []string) error {
			if len(args) != 1 {
				if name == "accent" && len(args) == 0 {
					return d.Errf("theme accent: missing colour; quote it, as in accent \"#1f5fbf\", since # starts a comment in a Caddyfile")
				}
				return d.ArgErr()
			}
			*dst = args[0]
			return nil
		}
	}
	if err := parseBlock(d, "theme", opts); err != nil {
		return err
	}
	if bareHexColour.MatchString(t.Accent) {
		// accent 1f5fbf: the unquoted form without the comment sign.
		t.Accent = "#" + t.Accent
	}
	if t.Accent != "" {
		if _, err := entrypage.CheckAccent(t.Accent); err != nil {
			return d.Errf("%v", err)
		}
	}
	return nil
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	guest_admin [<matcher>] {
//	    store     <dir>
//	    api_key   <key>          # repeatable, at least one
//	    moderator_key <key>      # repeatable; HS256 secret of moderator tokens
//	    moderator_audience <aud> # default guestgate; a token's aud, if any, must contain it
//	    require_audience         # refuse moderator tokens without aud
//	    link_base <url>
//	    max_links <n>            # default 3
//	    lobby_timeout <duration> # default 2m
//	    audit_emails             # names and emails in audit lines (and webhooks)
//	    rate_limit off
//	    rate_limit {
//	        auth_failures <events> <window>  # default 30 1m
//	    }
//	    room      <id> [<name>]  # repeatable; made at start-up if missing
//	    webhook   <url> {        # repeatable; absolute http(s) URL
//	        secret <secret>      # required; at least 16 bytes
//	        events <types...>    # default: every event type
//	    }
//	}
func (a *Admin) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	seen := map[string]bool{}
	for d.NextBlock(0) {
		var err error
		switch d.Val() {
		case "store":
			err = oneArg(d, seen, &a.Store)
		case "api_key":
			err = repeatArg(d, &a.APIKeys)
		case "moderator_key":
			err = repeatArg(d, &a.ModeratorKeys)
		case "moderator_audience":
			err = oneArg(d, seen, &a.ModeratorAudience)
		case "require_audience":
			err = flagArg(d, seen, &a.RequireAudience)
		case "link_base":
			err = oneArg(d, seen, &a.LinkBase)
		case "max_links":
			var s string
			if err = oneArg(d, seen, &s); err == nil {
				n, convErr := strconv.Atoi(s)
				if convErr != nil || n < 1 {
					return d.Errf("max_links: must be a whole number of at least 1, got '%s'", s)
				}
				a.MaxLinks = n
			}
		case "lobby_timeout":
			err = durationArg(d, seen, &a.LobbyTimeout)
		case "audit_emails":
			err = flagArg(d, seen, &a.AuditEmails)
		case "rate_limit":
			a.RateLimit = new(AdminRateLimit)
			err = parseRateLimit(d, seen, &a.RateLimit.Off, map[string]**RateBudget{"auth_failures": &a.RateLimit.AuthFailures})
		case "room":
			args := d.RemainingArgs()
			if len(args) < 1 || len(args) > 2 {
				return d.ArgErr()
			}
			rc := RoomConfig{ID: args[0]}
			if len(args) == 2 {
				rc.Name = args[1]
			}
			for _, prev := range a.Rooms {
				if prev.ID == rc.ID {
					return d.Errf("duplicate room '%s'", rc.ID)
				}
			}
			a.Rooms = append(a.Rooms, rc)
		case "webhook":
			err = parseWebhook(d, a)
		default:
			return d.Errf("unrecognized subdirective '%s'", d.Val())
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// parseWebhook reads a webhook subdirective and its block.
func parseWebhook(d *caddyfile.Dispenser, a *Admin) error {
	args := d.RemainingArgs()
	if len(args) != 1 {
		return d.ArgErr()
	}
	w := Webhook{URL: args[0]}
	if err := webhook.CheckURL(w.URL); err != nil {
		return d.Errf("%v", err)
	}
	err := parseBlock(d, "webhook", map[string]func([]string) error{
		"secret": func(args []string) error {
			if len(args) != 1 {
				return d.ArgErr()
			}
			w.Secret = args[0]
			return nil
		},
		"events": func(args []string) error {
			if len(args) == 0 {
				return d.ArgErr()
			}
			w.Events = args
			if err := webhook.CheckEvents(w.URL, w.Events); err != nil {
				return d.Errf("%v", err)
			}
			return nil
		},
	})
	if err != nil {
		return err
	}
	if err := checkWebhook(w); err != nil {
		return d.Errf("%v", err)
	}
	for _, prev := range a.Webhooks {
		if prev.URL == w.URL {
			return d.Errf("duplicate webhook '%s'", webhook.RedactURL(w.URL))
		}
	}
	a.Webhooks = append(a.Webhooks, w)
	return nil
}

// Interface guards
var (
	_ caddyfile.Unmarshaler = (*Gateway)(nil)
	_ caddyfile.Unmarshaler = (*Admin)(nil)
)
