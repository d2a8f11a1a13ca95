package caddymodule

import (
	"fmt"
	"slices"
	"strings"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/guestgate/guestgate/internal/caddyconf"
	"github.com/guestgate/guestgate/webhook"
)

// Webhook is one webhook endpoint of guest_admin (the webhook subdirective):
// every event of the store whose type it asks for is POSTed to URL as JSON,
// signed the Standard Webhooks way with each of Secrets, from a queue kept in
// the store (package webhook).
type Webhook struct {
	// URL receives the events: an absolute http or https URL. Redirects are not
	// followed.
	URL string `json:"url"`

	// Secrets sign every delivery, each one signature of the webhook-signature
	// header: "whsec_" and the standard base64 of at least 24 bytes, as the
	// Standard Webhooks libraries take them, after placeholders ({env.X},
	// {file.path}) are resolved. Two while a secret is rotated, so that the
	// receiver accepts deliveries with either. At least one.
	Secrets []string `json:"secrets"`

	// Events are the event types delivered, from guestlink.EventTypes
	// ("guest.redeemed", "access.off", ...). Default: every type.
	Events []string `json:"events,omitempty"`
}

// checkWebhook holds the pure checks of one webhook; a secret is checked
// here only when it has no placeholder (webhookEndpoints checks it
// after they are resolved).
func checkWebhook(w Webhook) error {
	if err := webhook.CheckURL(w.URL); err != nil {
		return err
	}
	if len(w.Secrets) == 0 {
		return fmt.Errorf("webhook %s: secret is required", webhook.RedactURL(w.URL))
	}
	if _, err := w.secrets(false); err != nil {
		return err
	}
	return webhook.CheckEvents(w.URL, w.Events)
}

// secrets checks the secrets of w and returns them; with resolve, their
// placeholders are resolved first, without, a secret with a placeholder is
// left out, unchecked. An error names a secret by its place when w has
// several.
func (w Webhook) secrets(resolve bool) ([]string, error) {
	var out []string
	for i, s := range w.Secrets {
		v := s
		if resolve {
			v = caddyconf.ResolveSecret(s)
		} else if strings.Contains(s, "{") {
			continue
		}
		if err := webhook.CheckSecret(v); err != nil {
			name, after := "secret", ""
			if len(w.Secrets) > 1 {
				name = fmt.Sprintf("secret %d", i+1)
			}
			if v != s {
				after = " (after placeholders are resolved)"
			}
			return nil, fmt.Errorf("webhook %s: %s%s %w", webhook.RedactURL(w.URL), name, after, err)
		}
		out = append(out, v)
	}
	return out, nil
}

// checkWebhooks checks every webhook and refuses a URL given twice.
func checkWebhooks(ws []Webhook) error {
	seen := map[string]bool{}
	for _, w := range ws {
		if err := checkWebhook(w); err != nil {
			return err
		}
		if seen[w.URL] {
			return fmt.Errorf("webhook %s: configured twice", webhook.RedactURL(w.URL))
		}
		seen[w.URL] = true
	}
	return nil
}

// webhookEndpoints resolves the placeholders of the configured webhooks'
// secrets and checks what they resolve to; emails is audit_emails.
func webhookEndpoints(ws []Webhook, emails bool) ([]webhook.Endpoint, error) {
	var eps []webhook.Endpoint
	for _, w := range ws {
		secrets, err := w.secrets(true)
		if err != nil {
			return nil, err
		}
		eps = append(eps, webhook.Endpoint{URL: w.URL, Secrets: secrets, Events: w.Events, Emails: emails})
	}
	return eps, nil
}

// parseWebhook reads a webhook subdirective and its block.
func (a *Admin) parseWebhook(d *caddyfile.Dispenser) error {
	args := d.RemainingArgs()
	if len(args) != 1 {
		return d.ArgErr()
	}
	w := Webhook{URL: args[0]}
	if err := webhook.CheckURL(w.URL); err != nil {
		return d.Errf("%v", err)
	}
	err := caddyconf.Block(d, "webhook option", map[string]caddyconf.Option{
		"secret": func(d *caddyfile.Dispenser) error {
			if err := caddyconf.Repeat(&w.Secrets)(d); err != nil {
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
		"events": func(d *caddyfile.Dispenser) error {
			if err := caddyconf.List(&w.Events)(d); err != nil {
				return err
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
