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

	"github.com/guestgate/guestgate/caddymodule/stores"
	"github.com/guestgate/guestgate/entrypage"
	"github.com/guestgate/guestgate/guestlink"
	"github.com/guestgate/guestgate/internal/caddyconf"
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
	return caddyconf.Directive(d, map[string]caddyconf.Option{
		"store":           stores.Option(&g.StoreRaw),
		"signing_key":     caddyconf.Repeat(&g.SigningKeys),
		"identity_key":    caddyconf.One(&g.IdentityKey),
		"prefix":          caddyconf.One(&g.Prefix),
		"room_path":       caddyconf.One(&g.RoomPath),
		"allow":           caddyconf.List(&g.Allow),
		"unauthenticated": caddyconf.Choice(&g.Unauthenticated, "unauthenticated: must be 'deny' or 'pass', got '%s'", "deny", "pass"),
		"token_ttl":       caddyconf.Duration(&g.TokenTTL),
		"session_max":     caddyconf.Duration(&g.SessionMax),
		"same_site":       caddyconf.Choice(&g.SameSite, "same_site: must be 'lax', 'strict' or 'none', got '%s'", "lax", "strict", "none"),
		"retention":       caddyconf.Duration(&g.Retention),
		"frame_ancestors": caddyconf.List(&g.FrameAncestors),
		"audit_emails":    caddyconf.Flag(&g.AuditEmails),
		"manage_url":      caddyconf.One(&g.ManageURL),
		"rate_limit": func(d *caddyfile.Dispenser) error {
			g.RateLimit = new(RateLimit)
			return parseRateLimit(d, &g.RateLimit.Off, map[string]**RateBudget{
				"lookups": &g.RateLimit.Lookups, "requests": &g.RateLimit.Requests,
			})
		},
		"theme":   g.parseTheme,
		"role":    g.parseRole,
		"livekit": g.parseLiveKit,
	}, "signing_key", "allow", "frame_ancestors", "role")
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
	opts := map[string]caddyconf.Option{}
	for name, dst := range budgets {
		opts[name] = budgetOption("rate_limit "+name, dst)
	}
	return caddyconf.Block(d, "rate_limit option", opts)
}

// budgetOption reads "<option> <events> <window>" into *dst; what names the
// option in errors.
func budgetOption(what string, dst **RateBudget) caddyconf.Option {
	return func(d *caddyfile.Dispenser) error {
		args := d.RemainingArgs()
		if len(args) != 2 {
			return d.ArgErr()
		}
		n, err := strconv.Atoi(args[0])
		if err != nil || n < 1 {
			return d.Errf("%s: events must be a whole number of at least 1, got '%s'", what, args[0])
		}
		win, err := caddy.ParseDuration(args[1])
		if err != nil || win <= 0 {
			return d.Errf("%s: invalid window '%s'", what, args[1])
		}
		*dst = &RateBudget{Events: n, Window: caddy.Duration(win)}
		return nil
	}
}

var bareHexColour = regexp.MustCompile(`^(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$`)

// parseTheme reads a theme block.
func (g *Gateway) parseTheme(d *caddyfile.Dispenser) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	t := new(Theme)
	g.Theme = t
	err := caddyconf.Block(d, "theme option", map[string]caddyconf.Option{
		"title":     caddyconf.One(&t.Title),
		"logo":      caddyconf.One(&t.Logo),
		"templates": caddyconf.One(&t.Templates),
		"accent": func(d *caddyfile.Dispenser) error {
			if d.CountRemainingArgs() == 0 {
				return d.Errf("theme accent: missing colour; quote it, as in accent \"#1f5fbf\", since # starts a comment in a Caddyfile")
			}
			return caddyconf.One(&t.Accent)(d)
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
func (g *Gateway) parseRole(d *caddyfile.Dispenser) error {
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
	err := caddyconf.Block(d, "role option", map[string]caddyconf.Option{
		"allow": caddyconf.List(&rule.Allow),
		"write": caddyconf.List(&rule.Write),
		"methods": func(d *caddyfile.Dispenser) error {
			if err := caddyconf.List(&rule.Methods)(d); err != nil {
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
	return caddyconf.Directive(d, map[string]caddyconf.Option{
		"store":              stores.Option(&a.StoreRaw),
		"api_key":            caddyconf.Repeat(&a.APIKeys),
		"moderator_key":      caddyconf.Repeat(&a.ModeratorKeys),
		"moderator_audience": caddyconf.One(&a.ModeratorAudience),
		"require_audience":   caddyconf.Flag(&a.RequireAudience),
		"link_base":          caddyconf.One(&a.LinkBase),
		"max_links":          caddyconf.Count(&a.MaxLinks),
		"max_invitations":    caddyconf.Count(&a.MaxInvitations),
		"lobby_timeout":      caddyconf.Duration(&a.LobbyTimeout),
		"audit_emails":       caddyconf.Flag(&a.AuditEmails),
		"rate_limit": func(d *caddyfile.Dispenser) error {
			a.RateLimit = new(AdminRateLimit)
			return parseRateLimit(d, &a.RateLimit.Off, map[string]**RateBudget{"auth_failures": &a.RateLimit.AuthFailures})
		},
		"room": func(d *caddyfile.Dispenser) error {
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
		"webhook": a.parseWebhook,
		"email":   a.parseEmail,
	}, "api_key", "moderator_key", "room", "webhook")
}

// Interface guards
var (
	_ caddyfile.Unmarshaler = (*Gateway)(nil)
	_ caddyfile.Unmarshaler = (*Admin)(nil)
)
