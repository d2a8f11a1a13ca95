package caddymodule

import (
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/guestgate/guestgate/entrypage"
	"github.com/guestgate/guestgate/guestlink"
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

// option reads one subdirective, or one option of a block: the rest of its
// line, and the block it opens, if any.
type option func() error

// parseDirective reads a directive that takes no arguments and its block of
// subdirectives (see parseBlock).
func parseDirective(d *caddyfile.Dispenser, opts map[string]option, repeatable ...string) error {
	d.Next() // directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	return parseBlock(d, "subdirective", opts, repeatable...)
}

// parseBlock reads the block that follows the current token: every line is an
// option of opts, and one not named in repeatable may be given once. what
// names the options in errors: "unrecognized subdirective 'x'", "duplicate
// theme option 'x'".
func parseBlock(d *caddyfile.Dispenser, what string, opts map[string]option, repeatable ...string) error {
	seen := map[string]bool{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		name := d.Val()
		opt, ok := opts[name]
		if !ok {
			return d.Errf("unrecognized %s '%s'", what, name)
		}
		if seen[name] && !slices.Contains(repeatable, name) {
			return d.Errf("duplicate %s '%s'", what, name)
		}
		seen[name] = true
		if err := opt(); err != nil {
			return err
		}
	}
	return nil
}

// parseCheckedBlock reads a subdirective that takes no argument and a block
// of options, made by opts with the block's own dispenser, then checks the
// block as a whole: what is wrong with one option is said on its line, what
// check finds wrong with the block on the block's line. what names the
// options in errors ("livekit option").
func parseCheckedBlock(d *caddyfile.Dispenser, what string, opts func(d *caddyfile.Dispenser) map[string]option, check func() error) error {
	d = d.NewFromNextSegment() // the block alone, so errors can point back at its line
	d.Next()
	if d.NextArg() {
		return d.ArgErr()
	}
	if err := parseBlock(d, what, opts(d)); err != nil {
		return err
	}
	d.Reset()
	d.Next() // back on the block's line
	if err := check(); err != nil {
		return d.WrapErr(err)
	}
	return nil
}

// oneArg reads the single argument of the line into *dst.
func oneArg(d *caddyfile.Dispenser, dst *string) option {
	return func() error {
		if !d.NextArg() {
			return d.ArgErr()
		}
		*dst = d.Val()
		if d.NextArg() {
			return d.ArgErr()
		}
		return nil
	}
}

// choiceArg is oneArg for an argument that must be one of choices; msg, with
// %s for the argument, says so.
func choiceArg(d *caddyfile.Dispenser, dst *string, msg string, choices ...string) option {
	return func() error {
		if err := oneArg(d, dst)(); err != nil {
			return err
		}
		if !slices.Contains(choices, *dst) {
			return d.Errf(msg, *dst)
		}
		return nil
	}
}

// checkedArg is oneArg for an argument that check accepts; its error is
// said after block, the name of the block the option is in.
func checkedArg(d *caddyfile.Dispenser, dst *string, block string, check func(string) error) option {
	return func() error {
		if err := oneArg(d, dst)(); err != nil {
			return err
		}
		if err := check(*dst); err != nil {
			return d.Errf("%s %v", block, err)
		}
		return nil
	}
}

// secretArg is oneArg for a secret: a wrong count of arguments is said with
// msg, never with the value (ArgErr would show its last word).
func secretArg(d *caddyfile.Dispenser, dst *string, msg string) option {
	return func() error {
		if d.CountRemainingArgs() != 1 {
			return d.Err(msg)
		}
		return oneArg(d, dst)()
	}
}

// repeatArg appends the single argument of the line to *dst.
func repeatArg(d *caddyfile.Dispenser, dst *[]string) option {
	return func() error {
		args := d.RemainingArgs()
		if len(args) != 1 {
			return d.ArgErr()
		}
		*dst = append(*dst, args[0])
		return nil
	}
}

// listArg appends the arguments of the line, at least one, to *dst.
func listArg(d *caddyfile.Dispenser, dst *[]string) option {
	return func() error {
		args := d.RemainingArgs()
		if len(args) == 0 {
			return d.ArgErr()
		}
		*dst = append(*dst, args...)
		return nil
	}
}

// flagArg sets *dst for an option that takes no argument.
func flagArg(d *caddyfile.Dispenser, dst *bool) option {
	return func() error {
		if d.NextArg() {
			return d.ArgErr()
		}
		*dst = true
		return nil
	}
}

// durationArg reads the single argument of the line, a positive duration,
// into *dst.
func durationArg(d *caddyfile.Dispenser, dst *caddy.Duration) option {
	return func() error {
		name, s := d.Val(), ""
		if err := oneArg(d, &s)(); err != nil {
			return err
		}
		dur, err := caddy.ParseDuration(s)
		if err != nil || dur <= 0 {
			return d.Errf("%s: invalid duration '%s'", name, s)
		}
		*dst = caddy.Duration(dur)
		return nil
	}
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	guest_gateway [<matcher>] {
//	    store           <dir> | badger <dir> | postgres <dsn> [{ ... }]
//	    signing_key     <key>            # repeatable, newest first
//	    identity_key    <base64 seed>    # Ed25519 for X-Guest-Token; default: kept in the store
//	    prefix          <path>           # default /guest
//	    room_path       <path>           # default /rooms/{room}
//	    allow           <patterns...>    # repeatable
//	    role viewer|speaker|moderator {  # one block per role; default: allow alone decides
//	        allow   <patterns...>        # paths this role may reach besides allow
//	        methods <METHOD...>          # the methods it may use (GET HEAD POST PUT PATCH DELETE OPTIONS); default all
//	        write   <patterns...>        # paths where it may still use any method; they must be reachable too
//	    }
//	    unauthenticated deny|pass        # default deny
//	    token_ttl       <duration>       # default 10m
//	    session_max     <duration>       # default 12h
//	    same_site       lax|strict|none  # default lax
//	    retention       <duration>       # default 720h
//	    frame_ancestors <origins...>     # default: no framing
//	    audit_emails                     # names and emails in audit lines
//	    manage_url      <url>            # default /guest-admin/ (moderator invitees)
//	    rate_limit off
//	    rate_limit {
//	        lookups  <events> <window>   # default 30 1m
//	        requests <events> <window>   # default 3000 1m
//	    }
//	    livekit {                        # token endpoint for LiveKit rooms
//	        url        <ws(s) or http(s) URL>  # required; the LiveKit server
//	        api_key    <key>             # required; e.g. {env.LIVEKIT_API_KEY}
//	        api_secret <secret>          # required; at least 32 bytes
//	        token_ttl  <duration>        # default 10m
//	    }
//	    theme {
//	        title     <text>             # above the card and in <title>
//	        logo      <file>             # PNG, JPEG, GIF, WebP or SVG, at most 512 KiB
//	        accent    "#rrggbb"          # quoted: # starts a comment; or rrggbb
//	        templates <dir>              # *.html overriding the embedded templates
//	    }
//	}
func (g *Gateway) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return parseDirective(d, map[string]option{
		"store":           storeArg(d, &g.StoreRaw),
		"signing_key":     repeatArg(d, &g.SigningKeys),
		"identity_key":    oneArg(d, &g.IdentityKey),
		"prefix":          oneArg(d, &g.Prefix),
		"room_path":       oneArg(d, &g.RoomPath),
		"allow":           listArg(d, &g.Allow),
		"unauthenticated": choiceArg(d, &g.Unauthenticated, "unauthenticated: must be 'deny' or 'pass', got '%s'", "deny", "pass"),
		"token_ttl":       durationArg(d, &g.TokenTTL),
		"session_max":     durationArg(d, &g.SessionMax),
		"same_site":       choiceArg(d, &g.SameSite, "same_site: must be 'lax', 'strict' or 'none', got '%s'", "lax", "strict", "none"),
		"retention":       durationArg(d, &g.Retention),
		"frame_ancestors": listArg(d, &g.FrameAncestors),
		"audit_emails":    flagArg(d, &g.AuditEmails),
		"manage_url":      oneArg(d, &g.ManageURL),
		"rate_limit": func() error {
			g.RateLimit = new(RateLimit)
			return parseRateLimit(d, &g.RateLimit.Off, map[string]**RateBudget{
				"lookups": &g.RateLimit.Lookups, "requests": &g.RateLimit.Requests,
			})
		},
		"theme":   func() error { return parseTheme(d, g) },
		"role":    func() error { return parseRole(d, g) },
		"livekit": func() error { return parseLiveKit(d, g) },
	}, "signing_key", "allow", "frame_ancestors", "role")
}

// countArg reads the one argument of option name, a whole number of at
// least 1, into dst.
func countArg(d *caddyfile.Dispenser, name string, dst *int) option {
	return func() error {
		var s string
		if err := oneArg(d, &s)(); err != nil {
			return err
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return d.Errf("%s: must be a whole number of at least 1, got '%s'", name, s)
		}
		*dst = n
		return nil
	}
}

// parseRateLimit reads "rate_limit off" (setting *off) or a rate_limit block
// whose options, each "<option> <events> <window>", are the budgets of budgets.
func parseRateLimit(d *caddyfile.Dispenser, off *bool, budgets map[string]**RateBudget) error {
	args := d.RemainingArgs()
	switch {
	case len(args) == 1 && args[0] == "off":
		*off = true
		return nil
	case len(args) != 0:
		return d.ArgErr()
	}
	opts := map[string]option{}
	for name, dst := range budgets {
		opts[name] = func() error {
			args := d.RemainingArgs()
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
	return parseBlock(d, "rate_limit option", opts)
}

var bareHexColour = regexp.MustCompile(`^(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$`)

// parseTheme reads a theme block.
func parseTheme(d *caddyfile.Dispenser, g *Gateway) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	t := new(Theme)
	g.Theme = t
	err := parseBlock(d, "theme option", map[string]option{
		"title":     oneArg(d, &t.Title),
		"logo":      oneArg(d, &t.Logo),
		"templates": oneArg(d, &t.Templates),
		"accent": func() error {
			if d.CountRemainingArgs() == 0 {
				return d.Errf("theme accent: missing colour; quote it, as in accent \"#1f5fbf\", since # starts a comment in a Caddyfile")
			}
			return oneArg(d, &t.Accent)()
		},
	})
	if err != nil {
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

// parseRole reads a role subdirective and its block into g.Roles. Each
// option may be given once; methods are upper-cased, as Caddy's method
// matcher does. An unknown method is refused on its line; what is wrong with
// the block as a whole (nothing in it, write without methods, a bad pattern)
// on the role's line.
func parseRole(d *caddyfile.Dispenser, g *Gateway) error {
	d = d.NewFromNextSegment() // the role's line and block, so errors can point back at the line
	d.Next()
	args := d.RemainingArgs()
	if len(args) != 1 {
		return d.ArgErr()
	}
	name := args[0]
	if !slices.Contains(guestlink.Roles, name) {
		return d.Errf("role %q: unknown role; must be one of %s", name, strings.Join(guestlink.Roles, ", "))
	}
	if _, dup := g.Roles[name]; dup {
		return d.Errf("duplicate role '%s'", name)
	}
	var rule Role
	err := parseBlock(d, "role option", map[string]option{
		"allow": listArg(d, &rule.Allow),
		"write": listArg(d, &rule.Write),
		"methods": func() error {
			if err := listArg(d, &rule.Methods)(); err != nil {
				return err
			}
			for i, m := range rule.Methods {
				up, err := entrypage.RoleMethod(m)
				if err != nil {
					return d.Errf("role %q: methods: %v", name, err)
				}
				if slices.Contains(rule.Methods[:i], up) {
					return d.Errf("role %q: methods: %s listed twice", name, up)
				}
				rule.Methods[i] = up
			}
			return nil
		},
	})
	if err != nil {
		return err
	}
	d.Reset()
	d.Next() // back on the role's line
	if _, err := entrypage.ParseRoleRules(map[string]Role{name: rule}); err != nil {
		return d.WrapErr(err)
	}
	if g.Roles == nil {
		g.Roles = map[string]Role{}
	}
	g.Roles[name] = rule
	return nil
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	guest_admin [<matcher>] {
//	    store     <dir> | badger <dir> | postgres <dsn> [{ ... }]
//	    api_key   <key>          # repeatable, at least one
//	    moderator_key <key>      # repeatable; HS256 secret of moderator tokens
//	    moderator_audience <aud> # default guestgate; a token's aud, if any, must contain it
//	    require_audience         # refuse moderator tokens without aud
//	    link_base <url>
//	    max_links <n>            # default 3
//	    max_invitations <n>      # default 100
//	    lobby_timeout <duration> # default 2m
//	    audit_emails             # names and emails in audit lines (and webhooks)
//	    rate_limit off
//	    rate_limit {
//	        auth_failures <events> <window>  # default 30 1m
//	    }
//	    room      <id> [<name>]  # repeatable; made at start-up if missing
//	    webhook   <url> {        # repeatable; absolute http(s) URL
//	        secret <secret>      # required; whsec_<base64>, at least 24 bytes; repeatable to rotate
//	        events <types...>    # default: every event type
//	    }
//	    email {                  # SMTP server of invitation emails (send_email)
//	        server   <host:port> # required
//	        tls      starttls|implicit|none  # default starttls; none only for localhost
//	        from     <address>   # required; "Name <address>" with a display name
//	        username <user>      # with password; placeholders resolved
//	        password <password>  # e.g. {env.SMTP_PASSWORD}
//	        timeout  <duration>  # default 15s
//	    }
//	}
func (a *Admin) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return parseDirective(d, map[string]option{
		"store":              storeArg(d, &a.StoreRaw),
		"api_key":            repeatArg(d, &a.APIKeys),
		"moderator_key":      repeatArg(d, &a.ModeratorKeys),
		"moderator_audience": oneArg(d, &a.ModeratorAudience),
		"require_audience":   flagArg(d, &a.RequireAudience),
		"link_base":          oneArg(d, &a.LinkBase),
		"max_links":          countArg(d, "max_links", &a.MaxLinks),
		"max_invitations":    countArg(d, "max_invitations", &a.MaxInvitations),
		"lobby_timeout":      durationArg(d, &a.LobbyTimeout),
		"audit_emails":       flagArg(d, &a.AuditEmails),
		"rate_limit": func() error {
			a.RateLimit = new(AdminRateLimit)
			return parseRateLimit(d, &a.RateLimit.Off, map[string]**RateBudget{"auth_failures": &a.RateLimit.AuthFailures})
		},
		"room": func() error {
			args := d.RemainingArgs()
			if len(args) < 1 || len(args) > 2 {
				return d.ArgErr()
			}
			rc := RoomConfig{ID: args[0]}
			if len(args) == 2 {
				rc.Name = args[1]
			}
			if slices.ContainsFunc(a.Rooms, func(prev RoomConfig) bool { return prev.ID == rc.ID }) {
				return d.Errf("duplicate room '%s'", rc.ID)
			}
			a.Rooms = append(a.Rooms, rc)
			return nil
		},
		"webhook": func() error { return parseWebhook(d, a) },
		"email":   func() error { return parseEmail(d, a) },
	}, "api_key", "moderator_key", "room", "webhook")
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
	err := parseBlock(d, "webhook option", map[string]option{
		"secret": func() error {
			if err := repeatArg(d, &w.Secrets)(); err != nil {
				return err
			}
			// Said on its line; a placeholder is checked once resolved.
			if s := w.Secrets[len(w.Secrets)-1]; !strings.Contains(s, "{") {
				if err := webhook.CheckSecret(s); err != nil {
					return d.Errf("webhook %s: secret %v", webhook.RedactURL(w.URL), err)
				}
			}
			return nil
		},
		"events": func() error {
			if w.Events = d.RemainingArgs(); len(w.Events) == 0 {
				return d.ArgErr()
			}
			if err := webhook.CheckEvents(w.URL, w.Events); err != nil {
				return d.Errf("%v", err)
			}
			return nil
		},
	}, "secret")
	if err != nil {
		return err
	}
	if err := checkWebhook(w); err != nil {
		return d.Errf("%v", err)
	}
	if slices.ContainsFunc(a.Webhooks, func(prev Webhook) bool { return prev.URL == w.URL }) {
		return d.Errf("duplicate webhook '%s'", webhook.RedactURL(w.URL))
	}
	a.Webhooks = append(a.Webhooks, w)
	return nil
}

// Interface guards
var (
	_ caddyfile.Unmarshaler = (*Gateway)(nil)
	_ caddyfile.Unmarshaler = (*Admin)(nil)
)
