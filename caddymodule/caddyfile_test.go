package caddymodule

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/guestgate/guestgate/internal/ratelimit"
)

func TestGatewayCaddyfile(t *testing.T) {
	checkCaddyfile(t, []caddyfileCase[Gateway]{
		{
			name: "full",
			input: `guest_gateway {
				store /var/lib/guestgate
				signing_key {env.K1}
				signing_key {env.K0}
				prefix /join
				room_path /r/{room}
				allow /r/{room} /r/{room}/*
				allow /static/*
				unauthenticated pass
				token_ttl 5m
				session_max 2h
				same_site strict
				retention 48h
				frame_ancestors https://lms.example.com https://other.example
				rate_limit {
					lookups 10 1m
					requests 500 30s
				}
			}`,
			want: Gateway{
				StoreRaw: json.RawMessage(`{"dir":"/var/lib/guestgate","module":"badger"}`), SigningKeys: []string{"{env.K1}", "{env.K0}"}, Prefix: "/join",
				RoomPath: "/r/{room}", Allow: []string{"/r/{room}", "/r/{room}/*", "/static/*"},
				Unauthenticated: "pass", TokenTTL: caddy.Duration(5 * time.Minute),
				SessionMax: caddy.Duration(2 * time.Hour), SameSite: "strict",
				Retention:      caddy.Duration(48 * time.Hour),
				FrameAncestors: []string{"https://lms.example.com", "https://other.example"},
				RateLimit: &RateLimit{
					Lookups:  &RateBudget{Events: 10, Window: caddy.Duration(time.Minute)},
					Requests: &RateBudget{Events: 500, Window: caddy.Duration(30 * time.Second)},
				},
			},
		},
		{name: "empty block", input: `guest_gateway`, want: Gateway{}},
		{name: "rate limit off", input: "guest_gateway {\n\trate_limit off\n}", want: Gateway{RateLimit: &RateLimit{Off: true}}},
		{name: "rate limit unknown option", input: "guest_gateway {\n\trate_limit {\n\t\tguesses 1 1m\n\t}\n}", wantErr: "unrecognized rate_limit option 'guesses', at Testfile:3"},
		{name: "rate limit bad events", input: "guest_gateway {\n\trate_limit {\n\t\tlookups many 1m\n\t}\n}", wantErr: "rate_limit lookups: events must be a whole number of at least 1, got 'many', at Testfile:3"},
		{name: "rate limit bad window", input: "guest_gateway {\n\trate_limit {\n\t\trequests 5 soon\n\t}\n}", wantErr: "rate_limit requests: invalid window 'soon', at Testfile:3"},
		{name: "rate limit missing window", input: "guest_gateway {\n\trate_limit {\n\t\trequests 5\n\t}\n}", wantErr: "wrong argument count"},
		{name: "rate limit duplicate", input: "guest_gateway {\n\trate_limit off\n\trate_limit off\n}", wantErr: "duplicate subdirective 'rate_limit', at Testfile:3"},
		{name: "frame_ancestors without origins", input: "guest_gateway {\n\tframe_ancestors\n}", wantErr: "wrong argument count"},
		{name: "unknown subdirective", input: "guest_gateway {\n\tbogus 1\n}", wantErr: "unrecognized subdirective 'bogus', at Testfile:2"},
		{name: "missing argument", input: "guest_gateway {\n\tprefix\n}", wantErr: "wrong argument count or unexpected line ending after 'prefix', at Testfile:2"},
		{name: "extra argument", input: "guest_gateway {\n\troom_path /a /b\n}", wantErr: "wrong argument count or unexpected line ending after '/b', at Testfile:2"},
		{name: "duplicate", input: "guest_gateway {\n\tprefix /a\n\tprefix /b\n}", wantErr: "duplicate subdirective 'prefix', at Testfile:3"},
		{name: "bad unauthenticated", input: "guest_gateway {\n\tunauthenticated maybe\n}", wantErr: "unauthenticated: must be 'deny' or 'pass', got 'maybe', at Testfile:2"},
		{name: "bad duration", input: "guest_gateway {\n\ttoken_ttl soon\n}", wantErr: "token_ttl: invalid duration 'soon', at Testfile:2"},
		{name: "bad same_site", input: "guest_gateway {\n\tsame_site loose\n}", wantErr: "same_site: must be 'lax', 'strict' or 'none', got 'loose', at Testfile:2"},
		{name: "allow without patterns", input: "guest_gateway {\n\tallow\n}", wantErr: "wrong argument count or unexpected line ending after 'allow', at Testfile:2"},
		{name: "inline argument", input: "guest_gateway /x", wantErr: "wrong argument count"},
		{
			name:  "livekit",
			input: "guest_gateway {\n\tlivekit {\n\t\turl ws://127.0.0.1:7880\n\t\tapi_key {env.LK_KEY}\n\t\tapi_secret {env.LK_SECRET}\n\t\ttoken_ttl 3m\n\t}\n}",
			want:  Gateway{LiveKit: &LiveKit{URL: "ws://127.0.0.1:7880", APIKey: "{env.LK_KEY}", APISecret: "{env.LK_SECRET}", TokenTTL: caddy.Duration(3 * time.Minute)}},
		},
		{name: "livekit without url", input: "guest_gateway {\n\tlivekit {\n\t\tapi_key k\n\t\tapi_secret s\n\t}\n}", wantErr: "livekit: url is required, at Testfile:2"},
		{name: "livekit without api_key", input: "guest_gateway {\n\tlivekit {\n\t\turl wss://lk.example.com\n\t\tapi_secret s\n\t}\n}", wantErr: "livekit: api_key is required, at Testfile:2"},
		{name: "livekit relative url", input: "guest_gateway {\n\tlivekit {\n\t\turl lk.example.com\n\t}\n}", wantErr: `livekit url "lk.example.com": must be an absolute ws, wss, http or https URL without query or fragment, at Testfile:3`},
		{name: "livekit url with a query", input: "guest_gateway {\n\tlivekit {\n\t\turl wss://lk.example.com/?room=a\n\t}\n}", wantErr: "without query or fragment, at Testfile:3"},
		{name: "livekit secret in two words", input: "guest_gateway {\n\tlivekit {\n\t\tapi_secret very secret\n\t}\n}", wantErr: "livekit api_secret: give one value, or a placeholder like {env.LIVEKIT_API_SECRET}, at Testfile:3"},
		{name: "livekit short token_ttl", input: "guest_gateway {\n\tlivekit {\n\t\turl wss://lk.example.com\n\t\tapi_key k\n\t\tapi_secret s\n\t\ttoken_ttl 10s\n\t}\n}", wantErr: "livekit: token_ttl must be at least 1m, at Testfile:2"},
		{name: "livekit unknown option", input: "guest_gateway {\n\tlivekit {\n\t\troom a\n\t}\n}", wantErr: "unrecognized livekit option 'room', at Testfile:3"},
		{name: "livekit duplicate option", input: "guest_gateway {\n\tlivekit {\n\t\turl wss://a.example\n\t\turl wss://b.example\n\t}\n}", wantErr: "duplicate livekit option 'url', at Testfile:4"},
		{name: "livekit inline argument", input: "guest_gateway {\n\tlivekit wss://lk.example.com\n}", wantErr: "wrong argument count"},
		{name: "livekit duplicate", input: "guest_gateway {\n\tlivekit {\n\t\turl wss://a.example\n\t\tapi_key k\n\t\tapi_secret s\n\t}\n\tlivekit {\n\t}\n}", wantErr: "duplicate subdirective 'livekit', at Testfile:7"},
		{
			name:  "theme",
			input: "guest_gateway {\n\ttheme {\n\t\ttitle \"Acme Academy\"\n\t\tlogo /etc/guestgate/logo.png\n\t\taccent \"#126B3A\"\n\t\ttemplates /etc/guestgate/templates\n\t}\n}",
			want:  Gateway{Theme: &Theme{Title: "Acme Academy", Logo: "/etc/guestgate/logo.png", Accent: "#126B3A", Templates: "/etc/guestgate/templates"}},
		},
		{name: "theme accent without #", input: "guest_gateway {\n\ttheme {\n\t\taccent 15b\n\t}\n}", want: Gateway{Theme: &Theme{Accent: "#15b"}}},
		{name: "theme accent unquoted", input: "guest_gateway {\n\ttheme {\n\t\taccent #126b3a\n\t}\n}", wantErr: `theme accent: missing colour; quote it, as in accent "#1f5fbf", since # starts a comment in a Caddyfile, at Testfile:3`},
		{name: "theme accent too light", input: "guest_gateway {\n\ttheme {\n\t\taccent \"#ffcc00\"\n\t}\n}", wantErr: `theme accent "#ffcc00": white button text on it has a contrast of 1.5`},
		{name: "theme accent not a colour", input: "guest_gateway {\n\ttheme {\n\t\taccent blue\n\t}\n}", wantErr: `theme accent "blue": must be a colour like #1f5fbf`},
		{name: "theme unknown option", input: "guest_gateway {\n\ttheme {\n\t\tfont Comic\n\t}\n}", wantErr: "unrecognized theme option 'font', at Testfile:3"},
		{name: "theme missing argument", input: "guest_gateway {\n\ttheme {\n\t\tlogo\n\t}\n}", wantErr: "wrong argument count or unexpected line ending after 'logo', at Testfile:3"},
		{name: "theme extra argument", input: "guest_gateway {\n\ttheme {\n\t\ttitle Acme Academy\n\t}\n}", wantErr: "wrong argument count"},
		{name: "theme duplicate option", input: "guest_gateway {\n\ttheme {\n\t\ttitle A\n\t\ttitle B\n\t}\n}", wantErr: "duplicate theme option 'title', at Testfile:4"},
		{name: "theme duplicate block", input: "guest_gateway {\n\ttheme {\n\t\ttitle A\n\t}\n\ttheme {\n\t\ttitle B\n\t}\n}", wantErr: "duplicate subdirective 'theme', at Testfile:5"},
		{name: "theme inline argument", input: "guest_gateway {\n\ttheme dark\n}", wantErr: "wrong argument count"},
		{
			name: "roles",
			input: `guest_gateway {
				allow /rooms/{room} /rooms/{room}/* /ws/{room}
				role viewer {
					methods GET head Options
					write /rooms/{room}/chat /rooms/{room}/hand
				}
				role speaker {
					allow /stage/{room}/*
				}
				role moderator {
					allow /stage/{room}/* /mod/{room}
					methods GET POST
				}
			}`,
			want: Gateway{
				Allow: []string{"/rooms/{room}", "/rooms/{room}/*", "/ws/{room}"},
				Roles: map[string]Role{
					"viewer":    {Methods: []string{"GET", "HEAD", "OPTIONS"}, Write: []string{"/rooms/{room}/chat", "/rooms/{room}/hand"}},
					"speaker":   {Allow: []string{"/stage/{room}/*"}},
					"moderator": {Allow: []string{"/stage/{room}/*", "/mod/{room}"}, Methods: []string{"GET", "POST"}},
				},
			},
		},
		{name: "role unknown", input: "guest_gateway {\n\trole admin {\n\t\tmethods GET\n\t}\n}", wantErr: `role "admin": unknown role; must be one of viewer, speaker, moderator, at Testfile:2`},
		{name: "role without name", input: "guest_gateway {\n\trole {\n\t\tmethods GET\n\t}\n}", wantErr: "wrong argument count or unexpected line ending after 'role', at Testfile:2"},
		{name: "role with two names", input: "guest_gateway {\n\trole viewer speaker {\n\t\tmethods GET\n\t}\n}", wantErr: "wrong argument count or unexpected line ending after 'speaker', at Testfile:2"},
		{name: "role duplicate", input: "guest_gateway {\n\trole viewer {\n\t\tmethods GET\n\t}\n\trole viewer {\n\t\tmethods HEAD\n\t}\n}", wantErr: "duplicate role 'viewer', at Testfile:5"},
		{name: "role unknown method", input: "guest_gateway {\n\trole viewer {\n\t\tmethods GET FETCH\n\t}\n}", wantErr: `role "viewer": methods: unknown method "FETCH": must be one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS, at Testfile:3`},
		{name: "role method twice", input: "guest_gateway {\n\trole viewer {\n\t\tmethods GET get\n\t}\n}", wantErr: `role "viewer": methods: GET listed twice, at Testfile:3`},
		{name: "role methods without methods", input: "guest_gateway {\n\trole viewer {\n\t\tmethods\n\t}\n}", wantErr: "wrong argument count or unexpected line ending after 'methods', at Testfile:3"},
		{name: "role duplicate methods", input: "guest_gateway {\n\trole viewer {\n\t\tmethods GET\n\t\tmethods HEAD\n\t}\n}", wantErr: "duplicate role option 'methods', at Testfile:4"},
		{name: "role duplicate allow", input: "guest_gateway {\n\trole speaker {\n\t\tallow /a\n\t\tallow /b\n\t}\n}", wantErr: "duplicate role option 'allow', at Testfile:4"},
		{name: "role duplicate write", input: "guest_gateway {\n\trole viewer {\n\t\tmethods GET\n\t\twrite /a\n\t\twrite /b\n\t}\n}", wantErr: "duplicate role option 'write', at Testfile:5"},
		{name: "role unknown option", input: "guest_gateway {\n\trole viewer {\n\t\tdeny /a\n\t}\n}", wantErr: "unrecognized role option 'deny', at Testfile:3"},
		{name: "role empty block", input: "guest_gateway {\n\trole viewer {\n\t}\n}", wantErr: `role "viewer": no rules: give allow, methods or write, at Testfile:2`},
		{name: "role without block", input: "guest_gateway {\n\tprefix /g\n\trole viewer\n}", wantErr: `role "viewer": no rules: give allow, methods or write, at Testfile:3`},
		{name: "role write without methods", input: "guest_gateway {\n\trole viewer {\n\t\twrite /rooms/{room}/chat\n\t}\n}", wantErr: `role "viewer": write needs methods: without them this role may use every method everywhere, at Testfile:2`},
		{name: "role bad pattern", input: "guest_gateway {\n\trole speaker {\n\t\tallow stage/{room}\n\t}\n}", wantErr: `role "speaker": allow pattern "stage/{room}": must start with '/', at Testfile:2`},
	})
}

func TestAdminCaddyfile(t *testing.T) {
	checkCaddyfile(t, []caddyfileCase[Admin]{
		{
			name: "full",
			input: `guest_admin {
				store /var/lib/guestgate
				api_key {env.GUESTGATE_API_KEY}
				api_key second-key-0123456789
				moderator_key {env.GUESTGATE_MODERATOR_KEY}
				moderator_key {file./run/secrets/old-moderator-key}
				moderator_audience https://rooms.example.com
				require_audience
				link_base https://rooms.example.com/guest/
				max_links 5
				lobby_timeout 90s
				rate_limit {
					auth_failures 10 5m
				}
				room demo "Demo room"
				room lobby2
				webhook https://hooks.example.com/guestgate {
					secret {env.GUESTGATE_WEBHOOK_SECRET}
					events guest.redeemed guest.left
				}
				webhook http://10.0.0.5:8080/all {
					secret whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
					secret {file./run/secrets/new-webhook-secret}
				}
			}`,
			want: Admin{
				StoreRaw: json.RawMessage(`{"dir":"/var/lib/guestgate","module":"badger"}`), APIKeys: []string{"{env.GUESTGATE_API_KEY}", "second-key-0123456789"},
				ModeratorKeys:     []string{"{env.GUESTGATE_MODERATOR_KEY}", "{file./run/secrets/old-moderator-key}"},
				ModeratorAudience: "https://rooms.example.com", RequireAudience: true,
				LinkBase: "https://rooms.example.com/guest/", MaxLinks: 5, LobbyTimeout: caddy.Duration(90 * time.Second),
				RateLimit: &AdminRateLimit{AuthFailures: &RateBudget{Events: 10, Window: caddy.Duration(5 * time.Minute)}},
				Rooms:     []RoomConfig{{ID: "demo", Name: "Demo room"}, {ID: "lobby2"}},
				Webhooks: []Webhook{
					{URL: "https://hooks.example.com/guestgate", Secrets: []string{"{env.GUESTGATE_WEBHOOK_SECRET}"}, Events: []string{"guest.redeemed", "guest.left"}},
					{URL: "http://10.0.0.5:8080/all", Secrets: []string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "{file./run/secrets/new-webhook-secret}"}},
				},
			},
		},
		{name: "unknown subdirective", input: "guest_admin {\n\tmoderators 3\n}", wantErr: "unrecognized subdirective 'moderators', at Testfile:2"},
		{name: "missing api_key value", input: "guest_admin {\n\tapi_key\n}", wantErr: "wrong argument count or unexpected line ending after 'api_key', at Testfile:2"},
		{name: "missing moderator_key value", input: "guest_admin {\n\tmoderator_key\n}", wantErr: "wrong argument count or unexpected line ending after 'moderator_key', at Testfile:2"},
		{name: "moderator_key with two values", input: "guest_admin {\n\tmoderator_key a b\n}", wantErr: "wrong argument count"},
		{name: "duplicate link_base", input: "guest_admin {\n\tlink_base https://a/\n\tlink_base https://b/\n}", wantErr: "duplicate subdirective 'link_base', at Testfile:3"},
		{name: "duplicate store", input: "guest_admin {\n\tstore a\n\tstore b\n}", wantErr: "duplicate subdirective 'store', at Testfile:3"},
		// A DSN is never taken for a directory, nor repeated in the error.
		{name: "store DSN without its module", input: "guest_admin {\n\tstore postgres://gg:s3cret@db.internal/rooms\n}",
			wantErr: "store: the directory looks like a database address, with '://' or '=' in it (not repeated here, as it may hold a password): a PostgreSQL store is 'store postgres <dsn>'; a Badger directory may have neither in its name, at Testfile:2"},
		{name: "store misspelt module", input: "guest_admin {\n\tstore postgress postgres://gg:s3cret@db.internal/rooms\n}",
			wantErr: "store: 'postgress' is not a store module (badger, postgres), and a directory takes no other argument, at Testfile:2"},
		{name: "bad max_links", input: "guest_admin {\n\tmax_links 0\n}", wantErr: "max_links: must be a whole number of at least 1, got '0', at Testfile:2"},
		{name: "bad max_invitations", input: "guest_admin {\n\tmax_invitations many\n}", wantErr: "max_invitations: must be a whole number of at least 1, got 'many', at Testfile:2"},
		{name: "room without id", input: "guest_admin {\n\troom\n}", wantErr: "wrong argument count or unexpected line ending after 'room', at Testfile:2"},
		{name: "room with too many args", input: "guest_admin {\n\troom a b c\n}", wantErr: "wrong argument count"},
		{name: "duplicate room", input: "guest_admin {\n\troom a A\n\troom a B\n}", wantErr: "duplicate room 'a', at Testfile:3"},
		{name: "rate limit off", input: "guest_admin {\n\trate_limit off\n}", want: Admin{RateLimit: &AdminRateLimit{Off: true}}},
		{name: "rate limit empty block", input: "guest_admin {\n\trate_limit {\n\t}\n}", want: Admin{RateLimit: &AdminRateLimit{}}},
		{name: "rate limit option of the gateway", input: "guest_admin {\n\trate_limit {\n\t\tlookups 10 1m\n\t}\n}", wantErr: "unrecognized rate_limit option 'lookups', at Testfile:3"},
		{name: "rate limit bad events", input: "guest_admin {\n\trate_limit {\n\t\tauth_failures 0 1m\n\t}\n}", wantErr: "rate_limit auth_failures: events must be a whole number of at least 1, got '0', at Testfile:3"},
		{name: "rate limit bad window", input: "guest_admin {\n\trate_limit {\n\t\tauth_failures 5 -1m\n\t}\n}", wantErr: "rate_limit auth_failures: invalid window '-1m', at Testfile:3"},
		{name: "rate limit missing window", input: "guest_admin {\n\trate_limit {\n\t\tauth_failures 5\n\t}\n}", wantErr: "wrong argument count or unexpected line ending after '5', at Testfile:3"},
		{name: "rate limit duplicate option", input: "guest_admin {\n\trate_limit {\n\t\tauth_failures 5 1m\n\t\tauth_failures 6 1m\n\t}\n}", wantErr: "duplicate rate_limit option 'auth_failures', at Testfile:4"},
		{name: "rate limit duplicate", input: "guest_admin {\n\trate_limit off\n\trate_limit {\n\t}\n}", wantErr: "duplicate subdirective 'rate_limit', at Testfile:3"},
		{name: "rate limit inline argument", input: "guest_admin {\n\trate_limit 30 1m\n}", wantErr: "wrong argument count"},
		{name: "moderator_audience only", input: "guest_admin {\n\tmoderator_audience guestgate\n}", want: Admin{ModeratorAudience: "guestgate"}},
		{name: "require_audience only", input: "guest_admin {\n\trequire_audience\n}", want: Admin{RequireAudience: true}},
		{name: "missing moderator_audience value", input: "guest_admin {\n\tmoderator_audience\n}", wantErr: "wrong argument count or unexpected line ending after 'moderator_audience', at Testfile:2"},
		{name: "moderator_audience with two values", input: "guest_admin {\n\tmoderator_audience a b\n}", wantErr: "wrong argument count or unexpected line ending after 'b', at Testfile:2"},
		{name: "duplicate moderator_audience", input: "guest_admin {\n\tmoderator_audience a\n\tmoderator_audience b\n}", wantErr: "duplicate subdirective 'moderator_audience', at Testfile:3"},
		{name: "require_audience with a value", input: "guest_admin {\n\trequire_audience yes\n}", wantErr: "wrong argument count or unexpected line ending after 'yes', at Testfile:2"},
		{name: "duplicate require_audience", input: "guest_admin {\n\trequire_audience\n\trequire_audience\n}", wantErr: "duplicate subdirective 'require_audience', at Testfile:3"},
		{
			name: "email",
			input: `guest_admin {
				email {
					server smtp.example.com:587
					tls starttls
					from "Guest access <rooms@example.com>"
					username {env.SMTP_USER}
					password {env.SMTP_PASSWORD}
					timeout 20s
					per_room 300 24h
				}
			}`,
			want: Admin{Email: &Email{
				Server: "smtp.example.com:587", TLS: "starttls", From: "Guest access <rooms@example.com>",
				Username: "{env.SMTP_USER}", Password: "{env.SMTP_PASSWORD}", Timeout: caddy.Duration(20 * time.Second),
				PerRoom: &RateBudget{Events: 300, Window: caddy.Duration(24 * time.Hour)},
			}},
		},
		{name: "email per_room of none", input: "guest_admin {\n\temail {\n\t\tserver smtp.example.com\n\t\tfrom rooms@example.com\n\t\tper_room 0 1h\n\t}\n}", wantErr: "email per_room: events must be a whole number of at least 1, got '0', at Testfile:5"},
		{name: "email per_room without window", input: "guest_admin {\n\temail {\n\t\tserver smtp.example.com\n\t\tfrom rooms@example.com\n\t\tper_room 10\n\t}\n}", wantErr: "wrong argument count or unexpected line ending after '10', at Testfile:5"},
		{name: "email, the least", input: "guest_admin {\n\temail {\n\t\tserver smtp.example.com\n\t\tfrom rooms@example.com\n\t}\n}", want: Admin{Email: &Email{Server: "smtp.example.com", From: "rooms@example.com"}}},
		{name: "email tls none on localhost", input: "guest_admin {\n\temail {\n\t\tserver localhost:25\n\t\ttls none\n\t\tfrom rooms@example.com\n\t}\n}", want: Admin{Email: &Email{Server: "localhost:25", TLS: "none", From: "rooms@example.com"}}},
		{name: "email tls none elsewhere", input: "guest_admin {\n\temail {\n\t\tserver smtp.example.com:25\n\t\ttls none\n\t\tfrom rooms@example.com\n\t}\n}", wantErr: `email: tls none: only for a server on this machine (localhost or a loopback address), not "smtp.example.com": the invitation links and the credentials would cross the network unencrypted, at Testfile:2`},
		{name: "email unknown tls", input: "guest_admin {\n\temail {\n\t\tserver smtp.example.com:465\n\t\ttls ssl\n\t}\n}", wantErr: "email tls: must be 'starttls', 'implicit' or 'none', got 'ssl', at Testfile:4"},
		{name: "email without server", input: "guest_admin {\n\temail {\n\t\tfrom rooms@example.com\n\t}\n}", wantErr: "email: server: required, as host:port, at Testfile:2"},
		{name: "email without from", input: "guest_admin {\n\temail {\n\t\tserver smtp.example.com:587\n\t}\n}", wantErr: "email: from: required, an address like rooms@example.com, at Testfile:2"},
		{name: "email bad from", input: "guest_admin {\n\temail {\n\t\tserver smtp.example.com:587\n\t\tfrom rooms\n\t}\n}", wantErr: `email from "rooms": must be an address, like rooms@example.com or "Guest access <rooms@example.com>", at Testfile:4`},
		{name: "email bad server", input: "guest_admin {\n\temail {\n\t\tserver smtp://smtp.example.com\n\t\tfrom rooms@example.com\n\t}\n}", wantErr: `email: server "smtp://smtp.example.com": must be host:port, like smtp.example.com:587, at Testfile:2`},
		{name: "email password without username", input: "guest_admin {\n\temail {\n\t\tserver smtp.example.com:587\n\t\tfrom rooms@example.com\n\t\tpassword hunter2-secret\n\t}\n}", wantErr: "email: username and password: give both or neither, at Testfile:2"},
		{name: "email password of two words", input: "guest_admin {\n\temail {\n\t\tpassword hunter2 secret\n\t}\n}", wantErr: "email password: give one value, quoted if it has spaces, or a placeholder like {env.SMTP_PASSWORD}, at Testfile:3"},
		{name: "email bad timeout", input: "guest_admin {\n\temail {\n\t\ttimeout soon\n\t}\n}", wantErr: "timeout: invalid duration 'soon', at Testfile:3"},
		{name: "email unknown option", input: "guest_admin {\n\temail {\n\t\tport 587\n\t}\n}", wantErr: "unrecognized email option 'port', at Testfile:3"},
		{name: "email duplicate option", input: "guest_admin {\n\temail {\n\t\tserver a:25\n\t\tserver b:25\n\t}\n}", wantErr: "duplicate email option 'server', at Testfile:4"},
		{name: "email duplicate block", input: "guest_admin {\n\temail {\n\t\tserver a:25\n\t\tfrom r@example.com\n\t}\n\temail {\n\t}\n}", wantErr: "duplicate subdirective 'email', at Testfile:6"},
		{name: "email inline argument", input: "guest_admin {\n\temail smtp.example.com {\n\t}\n}", wantErr: "wrong argument count or unexpected line ending after 'smtp.example.com', at Testfile:2"},
	})
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name    string
		g       Gateway
		wantErr string
	}{
		{"defaults", Gateway{}, ""},
		{"room path without {room}", Gateway{RoomPath: "/rooms"}, "room_path \"/rooms\": must be a path containing {room}"},
		{"relative prefix", Gateway{Prefix: "guest"}, "prefix \"guest\""},
		{"short ttl", Gateway{TokenTTL: caddy.Duration(time.Second)}, "token_ttl: must be at least 1m"},
		{"session shorter than token", Gateway{TokenTTL: caddy.Duration(time.Hour), SessionMax: caddy.Duration(time.Minute)}, "session_max"},
		{"retention shorter than session", Gateway{Retention: caddy.Duration(time.Hour)}, "retention: must not be shorter than session_max"},
		{"theme accent too light", Gateway{Theme: &Theme{Accent: "#eeeeee"}}, "theme accent \"#eeeeee\": white button text"},
		{"theme accent fine", Gateway{Theme: &Theme{Accent: "#126b3a"}}, ""},
		{"no lookups", Gateway{RateLimit: &RateLimit{Lookups: &RateBudget{Window: caddy.Duration(time.Minute)}}}, "rate_limit lookups: needs at least 1 event per positive window"},
		{"requests without a window", Gateway{RateLimit: &RateLimit{Requests: &RateBudget{Events: 5}}}, "rate_limit requests: needs at least 1 event per positive window"},
		{"budgets fine", Gateway{RateLimit: &RateLimit{Requests: &RateBudget{Events: 5, Window: caddy.Duration(time.Second)}}}, ""},
		{"roles fine", Gateway{Roles: map[string]Role{"viewer": {Methods: []string{"get"}, Write: []string{"/rooms/{room}/chat"}}}}, ""},
		{"unknown role", Gateway{Roles: map[string]Role{"host": {Methods: []string{"GET"}}}}, `role "host": unknown role; must be one of viewer, speaker, moderator`},
		{"role with a bad method", Gateway{Roles: map[string]Role{"viewer": {Methods: []string{"GET", "TRACE"}}}}, `role "viewer": methods: unknown method "TRACE"`},
		{"role with a bad pattern", Gateway{Roles: map[string]Role{"speaker": {Allow: []string{"/stage/{room}/../x"}}}}, `role "speaker": allow pattern "/stage/{room}/../x": must not contain '//' or dot segments`},
		{"role without rules", Gateway{Roles: map[string]Role{"speaker": {}}}, `role "speaker": no rules`},
		{"role write without methods", Gateway{Roles: map[string]Role{"viewer": {Write: []string{"/rooms/{room}/chat"}}}}, `role "viewer": write needs methods`},
		{"manage_url a path", Gateway{ManageURL: "/manage/"}, ""},
		{"manage_url absolute", Gateway{ManageURL: "https://rooms.example.com/guest-admin/"}, ""},
		{"manage_url relative", Gateway{ManageURL: "guest-admin/"}, `manage_url "guest-admin/": must be a path on this site`},
		{"manage_url scheme-relative", Gateway{ManageURL: "//evil.example/"}, `manage_url "//evil.example/"`},
		{"manage_url javascript", Gateway{ManageURL: "javascript:alert(1)"}, `manage_url "javascript:alert(1)"`},
		{"manage_url with a query", Gateway{ManageURL: "/guest-admin/?x=1"}, `without query or fragment`},
		{"livekit fine", Gateway{LiveKit: &LiveKit{URL: "https://lk.example.com", APIKey: "k", APISecret: "{env.S}"}}, ""},
		{"livekit without url", Gateway{LiveKit: &LiveKit{APIKey: "k", APISecret: "s"}}, "livekit: url is required"},
		{"livekit bad scheme", Gateway{LiveKit: &LiveKit{URL: "tcp://lk.example.com", APIKey: "k", APISecret: "s"}}, `livekit: url "tcp://lk.example.com": the scheme must be`},
		{"livekit without secret", Gateway{LiveKit: &LiveKit{URL: "wss://lk.example.com", APIKey: "k"}}, "livekit: api_secret is required"},
		{"livekit short token_ttl", Gateway{LiveKit: &LiveKit{URL: "wss://lk.example.com", APIKey: "k", APISecret: "s", TokenTTL: caddy.Duration(time.Second)}}, "livekit: token_ttl must be at least 1m"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := tc.g
			g.applyDefaults()
			err := g.Validate()
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("Validate() = %v, want %q", err, tc.wantErr)
			}
		})
	}
	if err := (&Admin{}).Validate(); err == nil || !strings.Contains(err.Error(), "api_key") {
		t.Fatalf("admin without api_key: %v", err)
	}
	if err := (&Admin{APIKeys: []string{"k"}, LinkBase: "rooms.example.com/guest"}).Validate(); err == nil || !strings.Contains(err.Error(), "link_base") {
		t.Fatalf("relative link_base: %v", err)
	}
	if err := (&Admin{APIKeys: []string{"k"}, Rooms: []RoomConfig{{ID: "a/b"}}}).Validate(); err == nil || !strings.Contains(err.Error(), `room "a/b"`) {
		t.Fatalf("bad room id: %v", err)
	}
	// A moderator audience may not be that of another kind of guestgate's
	// tokens: the audiences keep the kinds apart.
	for _, aud := range []string{"guestgate-session", "guestgate-upstream"} {
		if err := (&Admin{APIKeys: []string{"k"}, ModeratorAudience: aud}).Validate(); err == nil || !strings.Contains(err.Error(), "moderator_audience") {
			t.Errorf("moderator_audience %q: %v, want refused", aud, err)
		}
	}
	for _, aud := range []string{"", "guestgate", "https://rooms.example.com"} {
		if err := (&Admin{APIKeys: []string{"k"}, ModeratorAudience: aud, RequireAudience: true}).Validate(); err != nil {
			t.Errorf("moderator_audience %q: %v", aud, err)
		}
	}
	// The email block's checks hold for JSON configs too; and it needs
	// link_base, lest a request's Host make the links it mails.
	const linkBase = "https://rooms.example.com/guest/"
	for _, tc := range []struct {
		e        Email
		linkBase string
		wantErr  string
	}{
		{Email{Server: "smtp.example.com:587", From: "rooms@example.com"}, linkBase, ""},
		{Email{Server: "smtp.example.com:587", From: "rooms@example.com"}, "", "email: needs link_base"},
		{Email{Server: "smtp.example.com:25", TLS: "none", From: "rooms@example.com"}, linkBase, "email: tls none: only for a server on this machine"},
		{Email{Server: "smtp.example.com:587"}, linkBase, "email: from: required"},
		{Email{From: "rooms@example.com"}, linkBase, "email: server: required"},
		{Email{Server: "smtp.example.com:587", From: "rooms@example.com", PerRoom: &RateBudget{Events: 0, Window: caddy.Duration(time.Hour)}}, linkBase, "email per_room: needs at least 1 event per positive window"},
		{Email{Server: "smtp.example.com:587", From: "rooms@example.com", PerRoom: &RateBudget{Events: 10}}, linkBase, "email per_room: needs at least 1 event per positive window"},
		{Email{Server: "smtp.example.com:587", From: "rooms@example.com", PerRoom: &RateBudget{Events: 10, Window: caddy.Duration(time.Hour)}}, linkBase, ""},
	} {
		err := (&Admin{APIKeys: []string{"k"}, LinkBase: tc.linkBase, Email: &tc.e}).Validate()
		if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("email %+v, link_base %q: %v, want %q", tc.e, tc.linkBase, err, tc.wantErr)
		}
	}
	for _, b := range []RateBudget{{Events: 0, Window: caddy.Duration(time.Minute)}, {Events: 5}} {
		a := Admin{APIKeys: []string{"k"}, RateLimit: &AdminRateLimit{AuthFailures: &b}}
		if err := a.Validate(); err == nil || !strings.Contains(err.Error(), "rate_limit auth_failures") {
			t.Fatalf("auth_failures %+v: %v", b, err)
		}
	}
}

// TestLiveKitSecrets: the livekit block's key pair goes through placeholders
// at provision, and a secret shorter than 32 bytes once resolved, which would
// make every token easy to forge, is a configuration error that names the
// option but never shows the secret.
func TestLiveKitSecrets(t *testing.T) {
	const secret = "0123456789abcdef0123456789abcdef"
	t.Setenv("GG_TEST_LK_KEY", "APIkey1")
	t.Setenv("GG_TEST_LK_SECRET", secret)
	t.Setenv("GG_TEST_LK_SHORT", "short-secret")
	t.Setenv("GG_TEST_LK_EMPTY", "")
	for _, tc := range []struct {
		name, key, secret, wantErr string
	}{
		{"placeholders", "{env.GG_TEST_LK_KEY}", "{env.GG_TEST_LK_SECRET}", ""},
		{"literal", "APIkey1", secret, ""},
		{"short secret", "APIkey1", "{env.GG_TEST_LK_SHORT}", "livekit: api_secret must be at least 32 bytes after placeholders are resolved, got 12"},
		{"key empty once resolved", "{env.GG_TEST_LK_EMPTY}", secret, "livekit: api_key is empty after placeholders are resolved"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := (&LiveKit{URL: "wss://lk.example.com", APIKey: tc.key, APISecret: tc.secret}).client(nil)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("client() = %v, want %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "short-secret") {
					t.Fatalf("the error shows the secret: %v", err)
				}
				return
			}
			if err != nil || c.ServerURL() != "wss://lk.example.com" {
				t.Fatalf("client() = %v, %v", c, err)
			}
		})
	}
}

// TestAdminAuthFailuresBudget: guest_admin limits failed authentications by
// default (30 per minute, the documented default), "rate_limit off" turns the
// limit off, an empty block keeps the default, and auth_failures sets it.
func TestAdminAuthFailuresBudget(t *testing.T) {
	for _, tc := range []struct {
		name string
		rl   *AdminRateLimit
		want ratelimit.Budget
	}{
		{"no rate_limit", nil, ratelimit.Budget{Events: 30, Window: time.Minute}},
		{"off", &AdminRateLimit{Off: true}, ratelimit.Budget{}},
		{"empty block", &AdminRateLimit{}, ratelimit.Budget{Events: 30, Window: time.Minute}},
		{"auth_failures 10 5m", &AdminRateLimit{AuthFailures: &RateBudget{Events: 10, Window: caddy.Duration(5 * time.Minute)}},
			ratelimit.Budget{Events: 10, Window: 5 * time.Minute}},
	} {
		if got := tc.rl.authFailures(); got != tc.want {
			t.Errorf("%s: budget %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

// caddyfileCase is a Caddyfile of a handler of type H and what it gives:
// want, or an error containing wantErr.
type caddyfileCase[H any] struct {
	name, input string
	want        H
	wantErr     string
}

// checkCaddyfile parses the input of each case into a new H and checks that
// it fails with an error containing wantErr or, without wantErr, that it
// gives want.
func checkCaddyfile[H any, P interface {
	*H
	caddyfile.Unmarshaler
}](t *testing.T, cases []caddyfileCase[H]) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got H
			err := P(&got).UnmarshalCaddyfile(caddyfile.NewTestDispenser(tc.input))
			switch {
			case tc.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want it to contain %q", err, tc.wantErr)
				}
			case err != nil:
				t.Fatal(err)
			case !reflect.DeepEqual(got, tc.want):
				t.Fatalf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}
