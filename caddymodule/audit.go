package caddymodule

import (
	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/guestgate/guestgate/guestlink"
)

// auditLogger is the logger audit events go to: "guestgate.audit", so a log
// block can include or exclude it by name.
func auditLogger() *zap.Logger { return caddy.Log().Named("guestgate.audit") }

// auditSink returns the Service's event hook: one structured info line per state
// change, with room, link, guest and actor; the guest's name and email only when
// emails is on (audit_emails). Tokens and keys are never part of an event.
func auditSink(logger *zap.Logger, emails bool, also func(guestlink.Event)) func(guestlink.Event) {
	return func(e guestlink.Event) {
		if ce := logger.Check(zap.InfoLevel, e.Type); ce != nil {
			fields := []zap.Field{zap.String("event_id", e.ID), zap.String("room", e.Room), zap.String("actor", e.Actor)}
			if e.Link != "" {
				fields = append(fields, zap.String("link", e.Link))
			}
			if e.Invitation != "" {
				fields = append(fields, zap.String("invitation", e.Invitation))
			}
			if e.Guest != "" {
				fields = append(fields, zap.String("guest", e.Guest))
			}
			if e.Role != "" {
				fields = append(fields, zap.String("role", e.Role))
			}
			if emails && e.Guest != "" {
				fields = append(fields, zap.String("guest_name", e.GuestName), zap.String("guest_email", e.GuestEmail))
			}
			ce.Write(fields...)
		}
		if also != nil {
			also(e)
		}
	}
}
