// Package livekit makes guestgate a token endpoint for LiveKit rooms
// (docs/DESIGN.md section 9): it mints LiveKit access tokens for guests, with
// the grants of their role, and removes participants through LiveKit's
// RoomService API. It speaks LiveKit's wire formats itself (a JWT signed with
// golang-jwt, one Twirp call over HTTP) so that no LiveKit SDK goes into the
// Caddy build.
package livekit

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/guestgate/guestgate/guestlink"
)

// MinSecretLen is the shortest api_secret accepted, in bytes: LiveKit's
// own servers refuse shorter secrets.
const MinSecretLen = 32

// DefaultTTL bounds a participant token's lifetime when Config.TTL is zero.
// A token is needed only to join: LiveKit refreshes the token of a
// connected participant itself.
const DefaultTTL = 10 * time.Minute

// RenewedTTL is how long a token that LiveKit itself gives a connected
// participant is valid at least: livekit-server sends one as the
// participant joins and every 5 minutes after, valid 10 minutes or the rest
// of the token it joined with if that is longer (v1.13.5,
// pkg/service/roommanager.go, tokenDefaultTTL). Its expiry is bound by
// nothing guestgate set, and RemoveParticipant revokes none: a participant
// removed at t may join again with a renewed token until t + RenewedTTL,
// or until the token they joined with expires if that is later.
const RenewedTTL = 10 * time.Minute

// Attribute keys of a participant's attributes, which every participant of
// the room sees. The guest's email is never among them.
const (
	AttrRole = "guestgate.role"
	AttrLink = "guestgate.link"
	// AttrTag marks a participant of a token of a gateway on one store
	// (Config.TagKey): a MAC of the room and the identity that only the
	// gateways holding the store's key can make.
	AttrTag = "guestgate.tag"
)

// Config of a Client.
type Config struct {
	// URL is the LiveKit server's URL as clients reach it: ws://, wss://,
	// http:// or https://, without query or fragment. RoomService calls go
	// to the same host over http(s).
	URL string
	// APIKey and APISecret are a LiveKit API key pair; the secret signs
	// every token (HS256) and is at least MinSecretLen bytes.
	APIKey    string
	APISecret []byte
	// TTL bounds a participant token's lifetime; DefaultTTL if zero.
	TTL time.Duration
	// HTTPClient makes the RoomService calls; a client with a 2 s timeout
	// per attempt if nil.
	HTTPClient *http.Client
	// TagKey, if set, tags every participant token with AttrTag, so that
	// Tagged can tell the participants of this store's gateways from any
	// other's. It is a key of the store, the same on every instance.
	TagKey []byte
}

// Client mints participant tokens and calls RoomService.
type Client struct {
	url     string
	api     string // the RoomService base URL, http(s)://host[/path]
	key     string
	secret  []byte
	ttl     time.Duration
	http    *http.Client
	retries []time.Duration
	tagKey  []byte
}

// CheckURL checks a LiveKit server URL (Config.URL) and returns the http(s)
// base of its RoomService API.
func CheckURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err == nil && u.User != nil || strings.Contains(raw, "@") {
		// Said without the URL: what stands before the @ may be a password.
		return "", errors.New("url: must not hold a user name or password (LiveKit takes api_key and api_secret)")
	}
	if err != nil || u.Host == "" || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return "", fmt.Errorf("url %q: must be an absolute ws, wss, http or https URL without query or fragment", raw)
	}
	switch u.Scheme {
	case "ws":
		u.Scheme = "http"
	case "wss":
		u.Scheme = "https"
	case "http", "https":
	default:
		return "", fmt.Errorf("url %q: the scheme must be ws, wss, http or https", raw)
	}
	return strings.TrimSuffix(u.String(), "/"), nil
}

// New checks c and returns a Client.
func New(c Config) (*Client, error) {
	api, err := CheckURL(c.URL)
	if err != nil {
		return nil, err
	}
	switch {
	case c.APIKey == "":
		return nil, errors.New("api_key is required")
	case len(c.APISecret) < MinSecretLen:
		return nil, fmt.Errorf("api_secret: must be at least %d bytes, got %d", MinSecretLen, len(c.APISecret))
	case c.TTL < 0:
		return nil, errors.New("token_ttl: must be positive")
	}
	cl := &Client{url: c.URL, api: api, key: c.APIKey, secret: c.APISecret, ttl: c.TTL, http: c.HTTPClient, tagKey: c.TagKey,
		retries: []time.Duration{100 * time.Millisecond, 300 * time.Millisecond, 600 * time.Millisecond}}
	if cl.ttl == 0 {
		cl.ttl = DefaultTTL
	}
	if cl.http == nil {
		cl.http = &http.Client{Timeout: 2 * time.Second}
	}
	return cl, nil
}

// ServerURL is the URL clients connect to, the server_url of the token
// endpoint's answer.
func (c *Client) ServerURL() string { return c.url }

// Participant is whom a token is for.
type Participant struct {
	// Identity is the guest id; Name the guest's name.
	Identity, Name string
	// Room is the guestgate room id, which is the LiveKit room's name.
	Room string
	// Role is guestlink.RoleViewer, RoleSpeaker or RoleModerator; "" is a
	// viewer.
	Role string
	// Link is the id of the link or invitation the guest came in by.
	Link string
}

// VideoGrant is the part of LiveKit's video grant that guestgate sets, with
// LiveKit's claim names (github.com/livekit/protocol/auth, VideoGrant).
type VideoGrant struct {
	RoomList       bool   `json:"roomList,omitempty"`
	RoomAdmin      bool   `json:"roomAdmin,omitempty"`
	RoomJoin       bool   `json:"roomJoin,omitempty"`
	Room           string `json:"room,omitempty"`
	CanPublish     *bool  `json:"canPublish,omitempty"`
	CanSubscribe   *bool  `json:"canSubscribe,omitempty"`
	CanPublishData *bool  `json:"canPublishData,omitempty"`
}

// Claims are the claims of a LiveKit access token that guestgate sets, with
// LiveKit's names (github.com/livekit/protocol/auth, ClaimGrants): iss is the
// API key, sub the participant's identity.
type Claims struct {
	jwt.RegisteredClaims
	Name       string            `json:"name,omitempty"`
	Video      *VideoGrant       `json:"video,omitempty"`
	Attributes map[string]string `json:"attributes,omitempty"`
}

// Grant is the video grant of role in room, by the table of docs/DESIGN.md
// section 9: every role joins, subscribes and publishes data (chat);
// speakers and moderators publish media; moderators are room admins. An
// unknown role gets a viewer's grant. Every permission is set explicitly:
// LiveKit reads a grant without any as "all of them".
func Grant(role, room string) *VideoGrant {
	yes, publish := true, false
	switch role {
	case guestlink.RoleSpeaker, guestlink.RoleModerator:
		publish = true
	}
	return &VideoGrant{
		RoomJoin: true, Room: room, RoomAdmin: role == guestlink.RoleModerator,
		CanPublish: &publish, CanSubscribe: &yes, CanPublishData: &yes,
	}
}

// Token mints p's access token at now, valid until the earlier of now+TTL
// and until (the end of the guest's session). It returns the token and its
// expiry.
func (c *Client) Token(p Participant, now, until time.Time) (string, time.Time, error) {
	exp := now.Add(c.ttl)
	if until.Before(exp) {
		exp = until
	}
	if !exp.After(now) {
		return "", time.Time{}, ErrSessionOver
	}
	role := p.Role
	if !slices.Contains(guestlink.Roles, role) {
		role = guestlink.RoleViewer
	}
	cl := Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: c.key, Subject: p.Identity,
			NotBefore: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(exp),
		},
		Name:       p.Name,
		Video:      Grant(role, p.Room),
		Attributes: map[string]string{AttrRole: role, AttrLink: p.Link},
	}
	if len(c.tagKey) > 0 {
		cl.Attributes[AttrTag] = c.tag(p.Room, p.Identity)
	}
	tok, err := c.sign(cl)
	return tok, exp, err
}

func (c *Client) sign(cl Claims) (string, error) {
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, cl).SignedString(c.secret)
	if err != nil {
		return "", fmt.Errorf("livekit: signing a token: %w", err)
	}
	return tok, nil
}

// ErrSessionOver is Token's answer for a session that has ended (within the
// leeway a session token's check allows).
var ErrSessionOver = errors.New("livekit: the session has ended")

// ErrNotFound is RemoveParticipant's answer for a participant who is not in
// the room (never joined, or already gone).
var ErrNotFound = errors.New("livekit: no such participant")

// RemoveParticipant removes participant identity from LiveKit room room
// through RoomService (a Twirp call signed with a room admin token for that
// room), which also revokes the participant's tokens issued until then. A
// failed attempt (no answer, or a 5xx) is retried three times, after 100 ms,
// 300 ms and 600 ms; ctx bounds the whole. A participant who is not in the
// room is ErrNotFound.
func (c *Client) RemoveParticipant(ctx context.Context, room, identity string) error {
	body, err := json.Marshal(map[string]string{"room": room, "identity": identity})
	if err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		_, retry, err := c.call(ctx, "RemoveParticipant", room, body)
		if err == nil || !retry || attempt == len(c.retries) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (then %w)", err, ctx.Err())
		case <-time.After(c.retries[attempt]):
		}
	}
}

// tag is the AttrTag of identity in room: 128 bits of HMAC-SHA256 under
// the tag key, base64url.
func (c *Client) tag(room, identity string) string {
	m := hmac.New(sha256.New, c.tagKey)
	m.Write([]byte(room))
	m.Write([]byte{0})
	m.Write([]byte(identity))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
}

// Tagged reports whether p, a participant of LiveKit room room, carries the
// tag this Client's key makes: whether a gateway on the same store gave its
// token. Without a TagKey nobody is.
func (c *Client) Tagged(room string, p Present) bool {
	return len(c.tagKey) > 0 && hmac.Equal([]byte(p.Attributes[AttrTag]), []byte(c.tag(room, p.Identity)))
}

// Present is a participant in a LiveKit room, as RoomService lists it: its
// identity and attributes. A participant of a guestgate token has AttrRole
// and AttrLink among them.
type Present struct {
	Identity   string            `json:"identity"`
	Attributes map[string]string `json:"attributes"`
}

// ListParticipants returns the participants in LiveKit room room
// (RoomService, one call, not retried); a room that does not exist has none.
func (c *Client) ListParticipants(ctx context.Context, room string) ([]Present, error) {
	body, err := json.Marshal(map[string]string{"room": room})
	if err != nil {
		return nil, err
	}
	answer, _, err := c.call(ctx, "ListParticipants", room, body)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var list struct {
		Participants []Present `json:"participants"`
	}
	if err := json.Unmarshal(answer, &list); err != nil {
		return nil, fmt.Errorf("livekit: ListParticipants: %w", err)
	}
	return list.Participants, nil
}

// ListRooms returns the names of the LiveKit server's rooms (RoomService,
// one call, not retried, signed with a one-minute token that may only list
// rooms). The participant counts it has for them are not read: LiveKit
// updates them a while after a participant joins.
func (c *Client) ListRooms(ctx context.Context) ([]string, error) {
	answer, _, err := c.call(ctx, "ListRooms", "", []byte("{}"))
	if err != nil {
		return nil, err
	}
	var list struct {
		Rooms []struct {
			Name string `json:"name"`
		} `json:"rooms"`
	}
	if err := json.Unmarshal(answer, &list); err != nil {
		return nil, fmt.Errorf("livekit: ListRooms: %w", err)
	}
	names := make([]string, 0, len(list.Rooms))
	for _, r := range list.Rooms {
		names = append(names, r.Name)
	}
	return names, nil
}

// TTL is the longest a participant token of this Client is valid.
func (c *Client) TTL() time.Duration { return c.ttl }

// maxAnswer bounds the RoomService answer read: about 85,000 rooms of
// ListRooms, as livekit-server describes a room in about 750 bytes. The
// HTTP client's timeout (2 s by default) bounds it too.
const maxAnswer = 64 << 20

// call makes one Twirp call of RoomService method for room, signed with a
// one-minute room admin token for that room only (with room "", a token
// that may only list rooms), and returns the answer's body. A participant
// or room that LiveKit says is not there is ErrNotFound; retry says whether
// a failure may pass (no answer, or a 5xx).
func (c *Client) call(ctx context.Context, method, room string, body []byte) (answer []byte, retry bool, err error) {
	now := time.Now()
	grant := &VideoGrant{RoomAdmin: true, Room: room}
	if room == "" {
		grant = &VideoGrant{RoomList: true}
	}
	tok, err := c.sign(Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: c.key, NotBefore: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Minute)),
		},
		Video: grant,
	})
	if err != nil {
		return nil, false, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.api+"/twirp/livekit.RoomService/"+method, bytes.NewReader(body))
	if err != nil {
		return nil, false, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, ctx.Err() == nil, fmt.Errorf("livekit: %s: %w", method, err)
	}
	defer resp.Body.Close()
	msg, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		return nil, ctx.Err() == nil, fmt.Errorf("livekit: %s: %w", method, err)
	}
	if len(msg) > maxAnswer {
		return nil, false, fmt.Errorf("livekit: %s: the answer is larger than %d bytes", method, maxAnswer)
	}
	if resp.StatusCode == http.StatusOK {
		return msg, false, nil
	}
	var twirp struct {
		Code string `json:"code"`
		Msg  string `json:"msg"`
	}
	_ = json.Unmarshal(msg, &twirp)
	if resp.StatusCode == http.StatusNotFound && twirp.Code == "not_found" {
		// LiveKit's own answer for a participant or room that is not
		// there; a 404 of anything else (a proxy, a wrong path) is a
		// failure.
		return nil, false, ErrNotFound
	}
	return nil, resp.StatusCode >= 500, fmt.Errorf("livekit: %s: %s: %s %s", method, resp.Status, twirp.Code, twirp.Msg)
}
