package caddymodule

import (
	"errors"
	"fmt"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"go.uber.org/zap"

	"github.com/guestgate/guestgate/entrypage"
	"github.com/guestgate/guestgate/internal/caddyconf"
	"github.com/guestgate/guestgate/livekit"
)

// LiveKit is the livekit block of guest_gateway: the LiveKit server and its
// API key pair.
type LiveKit struct {
	// URL is the LiveKit server's URL as browsers reach it, the server_url of
	// the token endpoint: ws://, wss://, http:// or https://. Removals are
	// RoomService calls to the same host over http(s). Required.
	URL string `json:"url"`

	// APIKey is the LiveKit API key, the iss of the tokens; placeholders are
	// resolved. Required.
	APIKey string `json:"api_key"`

	// APISecret is the LiveKit API secret that signs the tokens (HS256): at
	// least 32 bytes after placeholders ({env.LIVEKIT_API_SECRET},
	// {file./run/secrets/livekit}) are resolved. Required.
	APISecret string `json:"api_secret"`

	// TokenTTL bounds a participant token's lifetime, which also never
	// outlives the guest's session (session_max from the redemption). A
	// token is needed only to join: LiveKit renews the token of a connected
	// participant itself. Default: 10m.
	TokenTTL caddy.Duration `json:"token_ttl,omitempty"`
}

// check holds the pure checks of the livekit block.
func (lk *LiveKit) check() error {
	if lk.URL == "" {
		return errors.New("livekit: url is required")
	}
	if _, err := livekit.CheckURL(lk.URL); err != nil {
		return fmt.Errorf("livekit: %w", err)
	}
	switch {
	case lk.APIKey == "":
		return errors.New("livekit: api_key is required")
	case lk.APISecret == "":
		return errors.New("livekit: api_secret is required")
	case lk.TokenTTL != 0 && lk.TokenTTL < caddy.Duration(time.Minute):
		return errors.New("livekit: token_ttl must be at least 1m")
	}
	return nil
}

// client resolves the placeholders of lk's key pair and makes the LiveKit
// client, whose tokens carry the store's tag made with tagKey.
func (lk *LiveKit) client(tagKey []byte) (*livekit.Client, error) {
	secret, err := caddyconf.CheckedSecret(lk.APISecret, livekit.MinSecretLen, "bytes")
	if err != nil {
		return nil, fmt.Errorf("livekit: api_secret %w", err)
	}
	key := caddyconf.ResolveSecret(lk.APIKey)
	if key == "" {
		return nil, errors.New("livekit: api_key is empty after placeholders are resolved")
	}
	c, err := livekit.New(livekit.Config{URL: lk.URL, APIKey: key, APISecret: []byte(secret), TTL: time.Duration(lk.TokenTTL), TagKey: tagKey})
	if err != nil {
		return nil, fmt.Errorf("livekit: %w", err)
	}
	return c, nil
}

// parseLiveKit reads the livekit block.
func (g *Gateway) parseLiveKit(d *caddyfile.Dispenser) error {
	lk := new(LiveKit)
	g.LiveKit = lk
	return caddyconf.CheckedBlock(d, "livekit option", map[string]caddyconf.Option{
		"url": caddyconf.Checked(&lk.URL, "livekit", func(u string) error {
			_, err := livekit.CheckURL(u)
			return err
		}),
		"api_key":    caddyconf.One(&lk.APIKey),
		"api_secret": caddyconf.Secret(&lk.APISecret, "livekit api_secret: give one value, or a placeholder like {env.LIVEKIT_API_SECRET}"),
		"token_ttl":  caddyconf.Duration(&lk.TokenTTL),
	}, lk.check)
}

// livekitTagKeySecret is the store's secret that tags its gateways'
// LiveKit participants (livekit.Config.TagKey), the same on every instance.
const livekitTagKeySecret = "livekit-tag-key"

// logLiveKitAdoptError logs a round of looking for LiveKit participants to
// adopt that failed; the next round, DefaultLiveKitAdopt later, tries again.
func (g *Gateway) logLiveKitAdoptError(err error) {
	g.logger.Warn("looking for the LiveKit participants of other gateways failed; trying again later",
		zap.Duration("every", entrypage.DefaultLiveKitAdopt), zap.Error(err))
}

// logLiveKitRemove logs the removal of a guest from a LiveKit room: a state
// change, or an error when RoomService could not be reached.
func (g *Gateway) logLiveKitRemove(room, guest string, took time.Duration, err error) {
	fields := []zap.Field{zap.String("room", room), zap.String("guest", guest), zap.Duration("took", took)}
	if errors.Is(err, livekit.ErrNotFound) {
		// Not in the room (yet): the gateway looks again while a token
		// given to the guest is valid.
		g.logger.Debug("guest not in the LiveKit room", fields...)
		return
	}
	if err != nil {
		g.logger.Error("removing a guest from the LiveKit room failed", append(fields, zap.Error(err))...)
		return
	}
	g.logger.Info("guest removed from the LiveKit room", fields...)
}
