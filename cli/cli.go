// Package cli is the "caddy guestgate" command: it manages rooms, guest
// links, the lobby, the guest list, backups and exports of a running
// guestgate by calling the admin endpoint module (admin.api.guestgate) on
// Caddy's admin endpoint over HTTP, like "caddy trust" does; it never opens
// the store of a running Caddy. Only "move", run while Caddy is stopped,
// opens stores itself (move.go).
//
// The package knows nothing of Caddy: the program that registers the command
// (package caddymodule, with caddycmd.RegisterCommand) gives it, as a Host,
// what only Caddy knows: where the admin endpoint is, and how a command ends
// with an exit status.
package cli

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/guestgate/guestgate/store/postgres"
)

// Host is what the program that runs the command knows and the command does
// not.
type Host struct {
	// DefaultAddress is the admin endpoint's address when neither --address
	// nor --config names one ("localhost:2019"), for the help text.
	DefaultAddress string

	// AdminEndpoint returns how to reach the admin endpoint named by the
	// --address, --config and --adapter flags (each may be "").
	AdminEndpoint func(address, config, adapter string) (Endpoint, error)

	// Exit ends a command: it reports err, if not nil, the way the program's
	// own commands do, and returns what makes the program exit with status.
	Exit func(cmd *cobra.Command, status int, err error) error
}

// Endpoint is how to reach Caddy's admin endpoint.
type Endpoint struct {
	// Name is the address as configured ("localhost:2019",
	// "unix//run/caddy-admin.sock"), for messages.
	Name string
	// Network and Address are what to dial: "tcp" and "localhost:2019",
	// "unix" and a socket's path, ...
	Network, Address string
	// Socket is true for a unix socket or a file descriptor: requests then go
	// to http://127.0.0.1, without an Origin header.
	Socket bool
}

// Command is the "guestgate" command, in the shape of caddycmd.Command.
type Command struct {
	Name, Usage, Short, Long string
	// Setup adds the flags and subcommands to the command.
	Setup func(cmd *cobra.Command)
}

// New returns the "guestgate" command running in h.
func New(h Host) Command {
	return Command{
		Name:  "guestgate",
		Usage: "<rooms|access|links|invitations|lobby|guests|token|stores|backup|restore|export|import|move> ... [--address <listen>] [--config <path> [--adapter <name>]] [--store <dir|postgres://user@host:port/database>] [--json]",
		Short: "Manages rooms, guest links, the lobby, moderator tokens, backups and the store of guestgate",
		Long: `
Manages guestgate in a running Caddy: rooms, the guest access switch, guest
links, personal invitations, the lobby, the guest list, backups and exports
of the store; and moves
a store from Badger to PostgreSQL or back while Caddy is stopped; and mints
moderator tokens as a room backend does, to try the Manage page with one.

The command talks to Caddy's admin endpoint (the admin.api.guestgate module,
under /guestgate/), like 'caddy trust' does; it never opens the Badger
directory, which the running Caddy holds (but 'move', which opens both
stores itself, and 'token', which needs no Caddy). It uses '` + h.DefaultAddress + `' unless --address names the
endpoint or --config (with --adapter) names the config file to read it from.

The store is the only one the running handlers use, or the one --store names
when there are several: the directory given to the handlers' store
subdirective, or a PostgreSQL database as 'stores' shows it
(postgres://user@host:port/database; of a whole DSN, the password is not
sent). Settings (max_links, link_base) are those of the guest_admin handler
on that store; without link_base, link URLs are paths (/guest/<token>).

Output is a table or a sentence for people; --json prints the API's JSON for
scripts. Exit status: 0 on success, 1 when the operation failed (an error from
Caddy, such as a room that does not exist, or no Caddy to talk to), 2 for a
usage error (unknown command or flag, missing or extra arguments).`,
		Setup: h.setup,
	}
}

// Exit statuses.
const (
	exitSuccess = 0
	// exitFailure: the operation failed (an error from Caddy, or no Caddy to
	// talk to).
	exitFailure = 1
	// exitUsage is the exit status of a usage error: 2, as for most Unix
	// commands and Go's flag package. (Caddy's own commands exit 1 on a flag
	// error; guestgate keeps 1 for failed operations so that scripts can tell
	// the two apart.)
	exitUsage = 2
)

// usageError is a mistake in the command line.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(cmd *cobra.Command, format string, args ...any) error {
	return &usageError{fmt.Sprintf(format, args...) + "; see '" + cmd.CommandPath() + " --help'"}
}

// setup builds "caddy guestgate" and its subcommands on cmd.
func (h Host) setup(cmd *cobra.Command) {
	pf := cmd.PersistentFlags()
	pf.String("address", "", "Address of the administration API listener (if --config is not used)")
	pf.StringP("config", "c", "", "Configuration file to read the admin address from (if --address is not used)")
	pf.StringP("adapter", "a", "", "Name of config adapter to apply (if --config is used)")
	pf.String("store", "", "The store, when the running handlers use several: a Badger directory, or a PostgreSQL database as 'stores' shows it")
	pf.Bool("json", false, "Print JSON for scripts instead of tables")
	cmd.Example = `  caddy guestgate rooms put demo --name "Demo room" --admission moderator
  caddy guestgate access on demo
  caddy guestgate links create demo --name "Audience" --max-clicks 5 --days 7
  caddy guestgate invitations create demo --email ada@example.com --name "Ada Lovelace" --role speaker
  caddy guestgate lobby list demo
  caddy guestgate lobby admit demo g_2kq8...
  caddy guestgate lobby message demo "We start at 10:05"
  caddy guestgate guests list demo --csv > guests.csv
  caddy guestgate token --room demo --url http://localhost:8080/guest-admin/
  caddy guestgate backup guestgate.backup
  caddy guestgate move --from /var/lib/caddy/guestgate --to env:GUESTGATE_DSN`
	// Flag errors (an unknown flag, --days abc) are usage errors.
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return h.Exit(c, exitUsage, &usageError{err.Error() + "; see '" + c.CommandPath() + " --help'"})
	})
	cmd.Args = cobra.ArbitraryArgs
	cmd.RunE = h.groupRun

	rooms := h.group("rooms", "Creates, shows and deletes rooms")
	rooms.AddCommand(
		h.leaf(leafSpec{
			use: "put <room> [--name <name>] [--kind room|gallery] [--admission auto|moderator] [--available=false]", args: []string{"room"},
			short: "Creates or updates a room",
			long: `Creates the room, or updates it. Like the API's PUT, a setting left out takes
its default: the name is the room id, the kind "room", the admission "auto"
(guests go straight in; "moderator" makes them wait in the lobby) and the room
is available. Guest access keeps its state (it starts off).`,
			example: `  caddy guestgate rooms put demo --name "Demo room" --admission moderator
  caddy guestgate rooms put demo --available=false`,
			flags: func(c *cobra.Command) {
				c.Flags().String("name", "", "Display name shown to guests (default: the room id)")
				c.Flags().String("kind", "", `"room" or "gallery" (guest access is not supported for galleries)`)
				c.Flags().String("admission", "", `"auto" or "moderator"`)
				c.Flags().Bool("available", true, "Whether the room is available")
			},
			run: runRoomsPut,
		}),
		h.leaf(leafSpec{
			use: "get <room>", args: []string{"room"}, short: "Shows a room, its guest access and its links",
			example: `  caddy guestgate rooms get demo`,
			run:     runRoomsGet,
		}),
		h.leaf(leafSpec{
			use: "delete <room>", args: []string{"room"}, short: "Deletes a room with its links and guests",
			long:    "Deletes the room at once and for good; its links stop working and its guests' next requests are refused.",
			example: `  caddy guestgate rooms delete demo`,
			run:     runRoomsDelete,
		}),
	)

	access := h.leaf(leafSpec{
		use: "access on|off <room>", args: []string{"on|off", "room"}, short: "Switches guest access of a room on or off",
		long: `Switches the room's "Enable guest access" on or off. Off makes every link of
the room inactive: new guests cannot join, and guests inside are refused at
their next request (open connections are not cut).`,
		example: `  caddy guestgate access on demo
  caddy guestgate access off demo`,
		run: runAccess,
	})

	links := h.group("links", "Creates, lists and deletes guest links")
	links.AddCommand(
		h.leaf(leafSpec{
			use: "create <room> --name <name> [--role viewer|speaker] [--max-clicks <n>] [--days <n>] [--not-before <time>]", args: []string{"room"},
			short: "Creates a guest link and prints its URL",
			long: `Creates a guest link in the room and prints its URL. Guest access must be on,
and a room has at most max_links links (3 by default). A click is one
submitted entry form; without --max-clicks the link is unlimited, without
--days it never expires (the days count from now). Its guests are viewers,
or speakers with --role speaker (what each role may do is the gateway's
role rules; speakers skip the lobby). With --not-before the link opens at
that time (RFC 3339, at most 365 days ahead and before it expires): until
then its URL says when it opens, and spends nothing.`,
			example: `  caddy guestgate links create demo --name "Guest speakers" --role speaker --max-clicks 5 --days 7
  caddy guestgate links create demo --name Audience --not-before 2027-03-01T09:30:00+01:00
  URL=$(caddy guestgate links create demo --name Press)`,
			flags: func(c *cobra.Command) {
				c.Flags().String("name", "", "Name of the link, 1 to 80 characters (required)")
				c.Flags().String("role", "", "Role of the link's guests: viewer or speaker (default: viewer)")
				c.Flags().Int("max-clicks", 0, "Most guests who may use the link (default: unlimited)")
				c.Flags().Int("days", 0, "Days the link is valid, 1 to 365 (default: no end)")
				c.Flags().String("not-before", "", "When the link opens, an RFC 3339 time (default: at once)")
			},
			run: runLinksCreate,
		}),
		h.leaf(leafSpec{
			use: "list <room>", args: []string{"room"}, short: "Lists the links of a room with their roles, clicks and opening times",
			example: `  caddy guestgate links list demo
  caddy guestgate links list demo --json | jq -r '.[].url'`,
			run: runLinksList,
		}),
		h.leaf(leafSpec{
			use: "delete <room> <link-id>", args: []string{"room", "link-id"}, short: "Deletes a link, at once and for good",
			example: `  caddy guestgate links delete demo l_3v9...`,
			run:     runLinksDelete,
		}),
	)

	invitations := h.group("invitations", "Creates, lists and deletes personal invitations")
	invitations.AddCommand(
		h.leaf(leafSpec{
			use:  "create <room> --email <address> --name <name> [--role viewer|speaker|moderator] [--max-uses <n>|--unlimited] [--hours <n>] [--not-before <time>]",
			args: []string{"room"}, short: "Invites one person and prints the invitation's URL",
			long: `Creates a personal invitation: a link that lets in only the person who types
the invited email address, with a role (viewer by default; moderator
invitees may also manage the room). It may be used once unless --max-uses
or --unlimited say otherwise, and it is valid for 24 hours unless --hours
says otherwise (1 to 8760). --not-before opens it at a later time (RFC 3339).`,
			example: `  caddy guestgate invitations create demo --email ada@example.com --name "Ada Lovelace" --role speaker
  caddy guestgate invitations create demo --email co@example.com --name "Co-moderator" --role moderator --hours 168`,
			flags: func(c *cobra.Command) {
				c.Flags().String("email", "", "The invitee's email address, which they must type (required)")
				c.Flags().String("name", "", "The invitee's name, filled in on the entry page (required)")
				c.Flags().String("role", "", "viewer (default), speaker or moderator")
				c.Flags().Int("max-uses", 0, "How often the invitation may be used (default 1)")
				c.Flags().Bool("unlimited", false, "No limit on uses")
				c.Flags().Int("hours", 0, "Hours the invitation is valid, 1 to 8760 (default 24)")
				c.Flags().String("not-before", "", "When the invitation opens, RFC 3339 (default: at once)")
			},
			run: runInvitationsCreate,
		}),
		h.leaf(leafSpec{
			use: "list <room>", args: []string{"room"}, short: "Lists the invitations of a room with their uses",
			example: `  caddy guestgate invitations list demo
  caddy guestgate invitations list demo --json | jq -r '.[] | .email + " " + .url'`,
			run: runInvitationsList,
		}),
		h.leaf(leafSpec{
			use: "delete <room> <invitation-id>", args: []string{"room", "invitation-id"}, short: "Revokes an invitation at once; the sessions it made end",
			example: `  caddy guestgate invitations delete demo i_3v9...`,
			run:     runInvitationsDelete,
		}),
	)

	lobby := h.group("lobby", "Lists, admits and declines guests waiting in the lobby, and tells them something")
	lobby.AddCommand(
		h.leaf(leafSpec{
			use: "list <room>", args: []string{"room"}, short: "Lists the guests waiting in the lobby",
			example: `  caddy guestgate lobby list demo`,
			run:     runLobbyList,
		}),
		h.leaf(leafSpec{
			use: "admit <room> <guest-id>", args: []string{"room", "guest-id"}, short: "Admits a waiting guest",
			example: `  caddy guestgate lobby admit demo g_2kq8...`,
			run:     runLobbyDecide("admit"),
		}),
		h.leaf(leafSpec{
			use: "deny <room> <guest-id>", args: []string{"room", "guest-id"}, short: "Declines a waiting guest",
			example: `  caddy guestgate lobby deny demo g_2kq8...`,
			run:     runLobbyDecide("deny"),
		}),
		h.leaf(leafSpec{
			use: "admit-all <room>", args: []string{"room"}, short: "Admits everyone waiting",
			example: `  caddy guestgate lobby admit-all demo`,
			run:     runLobbyAdmitAll,
		}),
		h.leaf(leafSpec{
			use: "message <room> <text>", args: []string{"room", "text"}, short: "Tells the guests waiting in the lobby something",
			long: `Sets the message the guests waiting in the room's lobby see on their page,
within a second: at most 280 characters on one line, in any language. It is
cleared when the lobby empties, or with "lobby clear-message" (or "").`,
			example: `  caddy guestgate lobby message demo "We start at 10:05"`,
			run:     runLobbyMessage,
		}),
		h.leaf(leafSpec{
			use: "clear-message <room>", args: []string{"room"}, short: "Clears the lobby message",
			example: `  caddy guestgate lobby clear-message demo`,
			run:     runLobbyClearMessage,
		}),
	)

	guests := h.group("guests", "Lists the guests of a room")
	guests.AddCommand(h.leaf(leafSpec{
		use: "list <room> [--csv]", args: []string{"room"}, short: "Lists who redeemed which link, and when",
		long: `Lists every guest of the room, newest first: who redeemed which link, with
which role, when, and their state. --csv prints the spreadsheet-safe CSV file of the API.`,
		example: `  caddy guestgate guests list demo
  caddy guestgate guests list demo --csv > guests.csv`,
		flags: func(c *cobra.Command) { c.Flags().Bool("csv", false, "Print CSV") },
		run:   runGuestsList,
	}))

	tok := h.leaf(leafSpec{
		use:   "token --room <room> [--key <moderator_key>] [--sub <id>] [--name <name>] [--role moderator|host] [--ttl <duration>] [--audience <aud>] [--url <manage page>]",
		short: "Mints a moderator token, as a room backend does",
		long: `Mints a moderator token for the rooms given, signed with a moderator_key of
guest_admin, as a room backend mints one for its moderators (see the README,
"moderator tokens"), and prints it; with --url, prints the Manage guest
access page's link that signs in with it (the token in the fragment). The
token is typed guestgate-moderator+jwt and carries aud (--audience, default
"guestgate"), so it also passes require_audience.

It needs no Caddy: the key comes from --key or from $` + moderatorKeyEnv + `.
Anyone with the key can mint tokens for every room: keep it as secret as an
API key, and mint short-lived tokens (--ttl, default 1h, at most 24h).`,
		example: `  caddy guestgate token --room demo --key demo-moderator-key-change-me-0123456789 --url http://localhost:8080/guest-admin/
  GUESTGATE_MODERATOR_KEY=... caddy guestgate token --room physics-101 --room chem-2 --sub u-42 --name "Ada Lovelace"
  curl -H "Authorization: Bearer $(caddy guestgate token --room demo)" http://localhost:8080/guest-admin/api/me`,
		local: true,
		flags: tokenFlags,
		run:   runToken,
	})

	stores := h.leaf(leafSpec{
		use: "stores", short: "Lists the stores the running handlers use",
		example: `  caddy guestgate stores`,
		run:     runStores,
	})

	backup := h.leaf(leafSpec{
		use: "backup <file>", args: []string{"file"}, short: "Writes a backup of the store to a file",
		long: `Writes a full backup of the store (Badger's backup stream), taken while Caddy
keeps serving, to the file ("-" for standard output). The file appears only
once the whole backup has arrived.

A PostgreSQL store has no backup of its own here: back the database up with
pg_dump (see the README), or write the store-neutral export with
'caddy guestgate export', which every store imports.`,
		example: `  caddy guestgate backup /var/backups/guestgate-$(date +%F).backup`,
		run:     runBackup,
	})

	restore := h.leaf(leafSpec{
		use: "restore <file> [--force] [--no-reload]", args: []string{"file"}, short: "Restores the store from a backup file",
		long: `Replaces the store's contents with a backup made by 'caddy guestgate backup'.
The backup is checked whole before anything changes. A store that holds rooms,
links or guests is refused unless --force, which replaces everything in it (a
new store, which holds only the keys the handlers made at start-up, counts as
empty). Then the running configuration is reloaded, so that the handlers use
the restored signing keys and guest sessions made before the backup stay
valid; --no-reload skips that.`,
		example: `  caddy guestgate restore guestgate.backup
  caddy guestgate restore guestgate.backup --force`,
		flags: replaceFlags,
		run:   runRestore,
	})

	exp := h.leaf(leafSpec{
		use: "export <file>", args: []string{"file"}, short: "Writes the store-neutral export of the store to a file",
		long: `Writes everything the store holds (rooms, links with their tokens and clicks,
guests, the signing and identity keys, webhook events waiting for delivery) in
guestgate's store-neutral export format, taken while Caddy keeps serving, to
the file ("-" for standard output). Any store imports it, Badger or
PostgreSQL: it is the backup of a PostgreSQL store that guestgate makes
itself (pg_dump makes PostgreSQL's). The download is checked whole (its last
line counts and checksums the rest) before the file appears.

The export holds every secret of the store: keep it as private as the store.`,
		example: `  caddy guestgate export /var/backups/guestgate-$(date +%F).jsonl`,
		run:     runExport,
	})

	imp := h.leaf(leafSpec{
		use: "import <file> [--force] [--no-reload]", args: []string{"file"}, short: "Replaces the store's contents with an export",
		long: `Replaces the store's contents with an export made by 'caddy guestgate export'
(or 'move'), from any kind of store. The export is checked whole before
anything changes, and loads all or nothing. A store that holds rooms, links or
guests is refused unless --force, which replaces everything in it. Then the
running configuration is reloaded, so that the handlers use the imported keys
and guest sessions made before the export stay valid; --no-reload skips that.
On a PostgreSQL store that several instances share, every instance's gate
follows at once, and each instance's configuration needs the reload.`,
		example: `  caddy guestgate import guestgate.jsonl
  caddy guestgate import guestgate.jsonl --force`,
		flags: replaceFlags,
		run:   runImport,
	})

	move := h.leaf(leafSpec{
		use: "move --from <store> --to <store> [--force]", short: "Moves a store from Badger to PostgreSQL, or back, while Caddy is stopped",
		long: `Copies everything a store holds into another store, of the same kind or not:
rooms, links (token, clicks, expiry), guests and their states, the session
signing, anti-CSRF and identity keys (so that guest sessions stay valid), and
the webhook events waiting for delivery, in order. It opens both stores
itself, not through Caddy: stop Caddy first (Badger locks its directory; a
PostgreSQL store may stay in use by other instances, but what they write
during the move is not moved). The target loads all or nothing; the source is
left as it was, which is the way back.

A store is:
  badger:<dir> or <dir>        the Badger store in directory dir
  postgres://... (a URL)       a PostgreSQL database; postgresql://... too
  postgres:<dsn>               a PostgreSQL database, any libpq DSN (host=... dbname=...)
  env:<NAME>                   a PostgreSQL database, its DSN in the environment
                               variable NAME (keeps the password off the command line)

A target that holds rooms, links or guests is refused unless --force, which
replaces everything in it (a new store, or one that holds only the keys the
handlers made at start-up, counts as empty). The output names a PostgreSQL
store as postgres://user@host:port/database, never with its password.`,
		example: `  export GUESTGATE_DSN='postgres://guestgate:secret@db.internal:5432/guestgate'
  caddy guestgate move --from /var/lib/caddy/.local/share/caddy/guestgate --to env:GUESTGATE_DSN
  caddy guestgate move --from env:GUESTGATE_DSN --to badger:/var/lib/guestgate --force`,
		local: true,
		flags: func(c *cobra.Command) {
			c.Flags().String("from", "", "The store to move (required)")
			c.Flags().String("to", "", "The store to move it into (required)")
			c.Flags().Bool("force", false, "Replace a target that is not empty")
		},
		run: runMove,
	})

	cmd.AddCommand(rooms, access, links, invitations, lobby, guests, tok, stores, backup, restore, exp, imp, move)
}

// replaceFlags are the flags of restore and import.
func replaceFlags(c *cobra.Command) {
	c.Flags().Bool("force", false, "Replace a store that is not empty")
	c.Flags().Bool("no-reload", false, "Do not reload the configuration afterwards")
}

// group is a command that only holds subcommands.
func (h Host) group(name, short string) *cobra.Command {
	return &cobra.Command{Use: name + " <command>", Short: short, Args: cobra.ArbitraryArgs, RunE: h.groupRun}
}

// groupRun answers a group command run without a known subcommand: a usage error.
func (h Host) groupRun(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return h.Exit(cmd, exitUsage, usagef(cmd, "%s needs a command", cmd.CommandPath()))
	}
	return h.Exit(cmd, exitUsage, usagef(cmd, "unknown command %q for %s", args[0], cmd.CommandPath()))
}

// leafSpec describes a command that does something.
type leafSpec struct {
	use, short, long, example string
	// args names the positional arguments, all required.
	args  []string
	flags func(*cobra.Command)
	// local: the command does not talk to Caddy (move).
	local bool
	run   func(c *invocation, args []string) error
}

func (h Host) leaf(s leafSpec) *cobra.Command {
	c := &cobra.Command{Use: s.use, Short: s.short, Long: s.long, Example: s.example, Args: cobra.ArbitraryArgs}
	if s.flags != nil {
		s.flags(c)
	}
	c.RunE = func(cmd *cobra.Command, args []string) error {
		status, err := h.run(cmd, s, args)
		return h.Exit(cmd, status, err)
	}
	return c
}

// run runs the command s with its arguments and returns its exit status.
func (h Host) run(cmd *cobra.Command, s leafSpec, args []string) (int, error) {
	if len(args) != len(s.args) {
		want := "no arguments"
		if len(s.args) > 0 {
			want = strings.Join(s.args, " ")
		}
		return exitUsage, usagef(cmd, "%s takes %s, got %d argument(s)", cmd.CommandPath(), want, len(args))
	}
	c, err := h.invocation(cmd, !s.local)
	if err != nil {
		return exitFailure, err
	}
	if err := s.run(c, args); err != nil {
		var ue *usageError
		if errors.As(err, &ue) {
			return exitUsage, err
		}
		what := strings.TrimPrefix(cmd.CommandPath(), cmd.Root().Name()+" ")
		return exitFailure, fmt.Errorf("%s: %w", strings.Join(append([]string{what}, args...), " "), err)
	}
	return exitSuccess, nil
}

// invocation is what a command works with: its flags, the output and the
// admin endpoint client (nil for a command that does not talk to Caddy).
type invocation struct {
	cmd  *cobra.Command
	out  io.Writer
	json bool
	api  *adminClient
}

func (h Host) invocation(cmd *cobra.Command, remote bool) (*invocation, error) {
	c := &invocation{cmd: cmd, out: cmd.OutOrStdout()}
	c.json = c.flag("json")
	if !remote {
		return c, nil
	}
	ep, err := h.AdminEndpoint(c.str("address"), c.str("config"), c.str("adapter"))
	if err != nil {
		return nil, err
	}
	c.api = newAdminClient(ep)
	if store := c.str("store"); postgres.IsURL(store) {
		// A PostgreSQL store, named as 'stores' shows it
		// (postgres://user@host:port/database). A whole DSN names it too,
		// but its password is not sent: Caddy logs the requests' URLs.
		name, err := postgres.Name(store)
		if err != nil {
			return nil, fmt.Errorf("--store: %w", err)
		}
		c.api.store = name
	} else if postgres.LooksLikeDSN(store) {
		return nil, errors.New("--store: name a PostgreSQL store as 'caddy guestgate stores' shows it, " +
			"postgres://user@host:port/database (what was given is not repeated here, as it may hold a password)")
	} else if store != "" {
		// A Badger directory: Caddy's working directory may differ from ours.
		abs, err := filepath.Abs(store)
		if err != nil {
			return nil, fmt.Errorf("--store %s: %w", store, err)
		}
		c.api.store = abs
	}
	return c, nil
}

// str and flag return the value of a string or bool flag.
func (c *invocation) str(name string) string {
	v, _ := c.cmd.Flags().GetString(name)
	return v
}

func (c *invocation) flag(name string) bool {
	v, _ := c.cmd.Flags().GetBool(name)
	return v
}
