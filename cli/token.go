package cli

import (
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/guestgate/guestgate/admin"
)

// moderatorKeyEnv is where "token" finds the moderator key when --key is
// not given: the variable the Caddyfiles of the README read it from.
const moderatorKeyEnv = "GUESTGATE_MODERATOR_KEY"

// tokenFlags are the flags of "token".
func tokenFlags(c *cobra.Command) {
	c.Flags().StringSlice("room", nil, "A room the token manages (required; repeat it or separate with commas for several)")
	c.Flags().String("key", "", "The moderator_key to sign with (default: $"+moderatorKeyEnv+")")
	c.Flags().String("sub", "moderator", "The moderator's id, as audit lines name them")
	c.Flags().String("name", "", "The name the Manage page shows (default: --sub)")
	c.Flags().String("role", admin.RoleModerator, `"moderator" or "host"`)
	c.Flags().Duration("ttl", time.Hour, "How long the token is valid, at most 24h")
	c.Flags().String("audience", "", "The token's aud: guest_admin's moderator_audience (default \"guestgate\")")
	c.Flags().String("url", "", "The Manage page's address; print the link that signs in with the token instead of the token")
}

// tokenJSON is what "token --json" prints.
type tokenJSON struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
	URL       string    `json:"url,omitempty"`
}

// runToken mints a moderator token (admin.MintModeratorToken) and prints it,
// or the Manage page's link with it. A spec the API would refuse is a usage
// error.
func runToken(c *invocation, _ []string) error {
	rooms, _ := c.cmd.Flags().GetStringSlice("room")
	ttl, _ := c.cmd.Flags().GetDuration("ttl")
	key := c.str("key")
	if key == "" {
		key = os.Getenv(moderatorKeyEnv)
	}
	switch {
	case len(rooms) == 0:
		return usagef(c.cmd, "--room is required")
	case key == "":
		return usagef(c.cmd, "no moderator key: give --key, or set %s", moderatorKeyEnv)
	}
	now := time.Now()
	tok, err := admin.MintModeratorToken(key, admin.ModeratorTokenSpec{
		Sub: c.str("sub"), Name: c.str("name"), Rooms: rooms, Role: c.str("role"),
		Audience: c.str("audience"), TTL: ttl,
	}, now)
	if err != nil {
		return usagef(c.cmd, "%v", err)
	}
	out := tokenJSON{Token: tok, ExpiresAt: now.Add(ttl).UTC().Truncate(time.Second)}
	if page := c.str("url"); page != "" {
		u, err := url.Parse(page)
		if err != nil || u.Scheme == "" || u.Host == "" {
			return usagef(c.cmd, "--url %q is not an absolute URL like http://localhost:8080/guest-admin/", page)
		}
		if !strings.HasSuffix(u.Path, "/") {
			u.Path += "/"
		}
		// The page reads the room from the query and the token from the
		// fragment, which never reaches a server or its logs.
		u.RawQuery = url.Values{"room": {rooms[0]}}.Encode()
		u.Fragment, u.RawFragment = "", ""
		out.URL = u.String() + "#token=" + tok
	}
	if c.json {
		return c.printJSON(nil, out)
	}
	if out.URL != "" {
		c.printf("%s\n", out.URL)
	} else {
		c.printf("%s\n", out.Token)
	}
	return nil
}
