package caddymodule

import (
	"fmt"

	"github.com/guestgate/guestgate/webhook"
)

// Webhook is one webhook endpoint of guest_admin (the webhook subdirective):
// every event of the store whose type it asks for is POSTed to URL as JSON,
// signed with Secret, from a queue kept in the store (package webhook).
type Webhook struct {
	// URL receives the events: an absolute http or https URL. Redirects are not
	// followed.
	URL string `json:"url"`

	// Secret is the HMAC-SHA256 key of the X-Guestgate-Signature header: at
	// least 16 bytes after placeholders ({env.X}, {file.path}) are resolved.
	// Required.
	Secret string `json:"secret"`

	// Events are the event types delivered, from guestlink.EventTypes
	// ("guest.redeemed", "access.off", ...). Default: every type.
	Events []string `json:"events,omitempty"`
}

// checkWebhook holds the pure checks of one webhook.
func checkWebhook(w Webhook) error {
	if err := webhook.CheckURL(w.URL); err != nil {
		return err
	}
	if w.Secret == "" {
		return fmt.Errorf("webhook %s: secret is required", webhook.RedactURL(w.URL))
	}
	return webhook.CheckEvents(w.URL, w.Events)
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
// secrets; emails is audit_emails.
func webhookEndpoints(ws []Webhook, emails bool) ([]webhook.Endpoint, error) {
	var eps []webhook.Endpoint
	for _, w := range ws {
		secret, err := checkedSecret(w.Secret, webhook.MinSecretLen, "bytes")
		if err != nil {
			return nil, fmt.Errorf("webhook %s: secret %w", webhook.RedactURL(w.URL), err)
		}
		eps = append(eps, webhook.Endpoint{URL: w.URL, Secret: []byte(secret), Events: w.Events, Emails: emails})
	}
	return eps, nil
}
