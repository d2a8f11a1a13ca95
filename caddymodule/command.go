package caddymodule

import (
	"fmt"
	"strings"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/guestgate/guestgate/cli"
)

// init registers "caddy guestgate" (package cli), giving it what only Caddy
// knows: where the admin endpoint is and how a command exits.
func init() {
	c := cli.New(cli.Host{
		DefaultAddress: caddy.DefaultAdminListen,
		AdminEndpoint:  adminEndpoint,
		Exit: func(cmd *cobra.Command, status int, err error) error {
			// caddycmd's exit error, which carries the status to caddycmd.Main,
			// is made only here; it logs err the way Caddy's commands do.
			return caddycmd.WrapCommandFuncForCobra(func(caddycmd.Flags) (int, error) { return status, err })(cmd, nil)
		},
	})
	caddycmd.RegisterCommand(caddycmd.Command{Name: c.Name, Usage: c.Usage, Short: c.Short, Long: c.Long, CobraFunc: c.Setup})
}

// adminEndpoint finds the admin endpoint as Caddy's own commands do: the
// address given, or the one in the config file, or Caddy's default; a unix
// socket ("unix//run/caddy-admin.sock") or a TCP address.
func adminEndpoint(address, config, adapter string) (cli.Endpoint, error) {
	addr, err := caddycmd.DetermineAdminAPIAddress(address, nil, config, adapter)
	if err != nil {
		return cli.Endpoint{}, fmt.Errorf("couldn't determine admin API address: %v", err)
	}
	parsed, err := caddy.ParseNetworkAddress(addr)
	if err != nil || parsed.PortRangeSize() > 1 {
		return cli.Endpoint{}, fmt.Errorf("invalid admin address %s: %v", addr, err)
	}
	if parsed.IsUnixNetwork() {
		// Drop the socket's permission bits ("path|0220"): not part of the path.
		parsed.Host, _, _ = strings.Cut(parsed.Host, "|")
	}
	return cli.Endpoint{
		Name:    addr,
		Network: parsed.Network,
		Address: parsed.JoinHostPort(0),
		Socket:  parsed.IsUnixNetwork() || parsed.IsFdNetwork(),
	}, nil
}
