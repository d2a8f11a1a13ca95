// Package caddyconf is what guestgate's Caddy modules share in reading their
// configuration and handing it to the plain-Go packages they set up: a
// directive's block read as a table of options, each read by a small Option
// (One, List, Flag, Duration, ...); secrets whose placeholders ({env.X},
// {file.path}) are resolved at provision; and the module's logger as the
// log/slog logger those packages take. It knows no directive of guestgate's:
// the tables, with their names and messages, are the modules'.
package caddyconf

import (
	"slices"
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// Option reads one subdirective, or one option of a block, with d on its
// name: the rest of its line, and the block it opens, if any.
type Option func(d *caddyfile.Dispenser) error

// Directive reads a directive that takes no arguments and its block of
// subdirectives (see Block).
func Directive(d *caddyfile.Dispenser, opts map[string]Option, repeatable ...string) error {
	d.Next() // directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	return Block(d, "subdirective", opts, repeatable...)
}

// Block reads the block that follows the current token: every line is an
// option of opts, and one not named in repeatable may be given once. what
// names the options in errors: "unrecognized subdirective 'x'", "duplicate
// theme option 'x'".
func Block(d *caddyfile.Dispenser, what string, opts map[string]Option, repeatable ...string) error {
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
		if err := opt(d); err != nil {
			return err
		}
	}
	return nil
}

// CheckedBlock reads a subdirective that takes no argument and its block of
// opts, then checks the block as a whole: what is wrong with one option is
// said on its line, what check finds wrong with the block on the block's
// line. what names the options in errors ("livekit option").
func CheckedBlock(d *caddyfile.Dispenser, what string, opts map[string]Option, check func() error) error {
	d = d.NewFromNextSegment() // the block alone, so errors can point back at its line
	d.Next()
	if d.NextArg() {
		return d.ArgErr()
	}
	if err := Block(d, what, opts); err != nil {
		return err
	}
	d.Reset()
	d.Next() // back on the block's line
	if err := check(); err != nil {
		return d.WrapErr(err)
	}
	return nil
}

// One reads the single argument of the line into *dst.
func One(dst *string) Option {
	return func(d *caddyfile.Dispenser) error {
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

// Choice is One for an argument that must be one of choices; msg, with %s
// for the argument, says so.
func Choice(dst *string, msg string, choices ...string) Option {
	return func(d *caddyfile.Dispenser) error {
		if err := One(dst)(d); err != nil {
			return err
		}
		if !slices.Contains(choices, *dst) {
			return d.Errf(msg, *dst)
		}
		return nil
	}
}

// Checked is One for an argument that check accepts; its error is said
// after block, the name of the block the option is in.
func Checked(dst *string, block string, check func(string) error) Option {
	return func(d *caddyfile.Dispenser) error {
		if err := One(dst)(d); err != nil {
			return err
		}
		if err := check(*dst); err != nil {
			return d.Errf("%s %v", block, err)
		}
		return nil
	}
}

// Secret is One for a secret: a wrong count of arguments is said with msg,
// never with the value (ArgErr would show its last word).
func Secret(dst *string, msg string) Option {
	return func(d *caddyfile.Dispenser) error {
		if d.CountRemainingArgs() != 1 {
			return d.Err(msg)
		}
		return One(dst)(d)
	}
}

// Repeat appends the single argument of the line to *dst.
func Repeat(dst *[]string) Option {
	return func(d *caddyfile.Dispenser) error {
		args := d.RemainingArgs()
		if len(args) != 1 {
			return d.ArgErr()
		}
		*dst = append(*dst, args[0])
		return nil
	}
}

// List appends the arguments of the line, at least one, to *dst.
func List(dst *[]string) Option {
	return func(d *caddyfile.Dispenser) error {
		args := d.RemainingArgs()
		if len(args) == 0 {
			return d.ArgErr()
		}
		*dst = append(*dst, args...)
		return nil
	}
}

// Flag sets *dst for an option that takes no argument.
func Flag(dst *bool) Option {
	return func(d *caddyfile.Dispenser) error {
		if d.NextArg() {
			return d.ArgErr()
		}
		*dst = true
		return nil
	}
}

// Duration reads the single argument of the line, a positive duration, into
// *dst.
func Duration(dst *caddy.Duration) Option {
	return func(d *caddyfile.Dispenser) error {
		name, s := d.Val(), ""
		if err := One(&s)(d); err != nil {
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

// Count reads the single argument of the line, a whole number of at least
// 1, into *dst.
func Count(dst *int) Option {
	return func(d *caddyfile.Dispenser) error {
		name, s := d.Val(), ""
		if err := One(&s)(d); err != nil {
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
