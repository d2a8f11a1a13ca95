package caddymodule

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/guestgate/guestgate/admin"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "guestgate",
		Usage: "<rooms|access|links|lobby|guests|stores|backup|restore> ... [--address <listen>] [--config <path> [--adapter <name>]] [--store <dir>] [--json]",
		Short: "Manages rooms, guest links, the lobby and backups of a running guestgate",
		Long: `
Manages guestgate in a running Caddy: rooms, the guest access switch, guest
links, the lobby, the guest list, and backups of the store.

The command talks to Caddy's admin endpoint (the admin.api.guestgate module,
under /guestgate/), like 'caddy trust' does; it never opens the Badger
directory, which the running Caddy holds. It uses '` + caddy.DefaultAdminListen + `'
unless --address names the endpoint or --config (with --adapter) names the
config file to read it from.

The store is the only one the running handlers use, or the one --store names
(the directory given to the handlers' store subdirective) when there are
several. Settings (max_links, link_base) are those of the guest_admin handler
on that store; without link_base, link URLs are paths (/guest/<token>).

Output is a table or a sentence for people; --json prints the API's JSON for
scripts. Exit status: 0 on success, 1 when the operation failed (an error from
Caddy, such as a room that does not exist, or no Caddy to talk to), 2 for a
usage error (unknown command or flag, missing or extra arguments).`,
		CobraFunc: guestgateCommand,
	})
}

// exitUsage is the exit status of a usage error: 2, as for most Unix commands
// and Go's flag package. (Caddy's own commands exit 1 on a flag error, where
// cobra's error reaches caddycmd.Main; guestgate keeps 1 for failed operations
// so that scripts can tell the two apart.)
const exitUsage = 2

// usageError is a mistake in the command line.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(cmd *cobra.Command, format string, args ...any) error {
	return &usageError{fmt.Sprintf(format, args...) + "; see '" + cmd.CommandPath() + " --help'"}
}

// guestgateCommand builds "caddy guestgate" and its subcommands.
func guestgateCommand(cmd *cobra.Command) {
	pf := cmd.PersistentFlags()
	pf.String("address", "", "Address of the administration API listener (if --config is not used)")
	pf.StringP("config", "c", "", "Configuration file to read the admin address from (if --address is not used)")
	pf.StringP("adapter", "a", "", "Name of config adapter to apply (if --config is used)")
	pf.String("store", "", "Store directory, when the running handlers use several")
	pf.Bool("json", false, "Print JSON for scripts instead of tables")
	cmd.Example = `  caddy guestgate rooms put demo --name "Demo room" --admission moderator
  caddy guestgate access on demo
  caddy guestgate links create demo --name "Guest speakers" --max-clicks 5 --days 7
  caddy guestgate lobby list demo
  caddy guestgate lobby admit demo g_2kq8...
  caddy guestgate guests list demo --csv > guests.csv
  caddy guestgate backup guestgate.backup`
	// Flag errors (an unknown flag, --days abc) are usage errors.
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return exitWith(c, exitUsage, &usageError{err.Error() + "; see '" + c.CommandPath() + " --help'"})
	})
	cmd.Args = cobra.ArbitraryArgs
	cmd.RunE = groupRun

	rooms := group("rooms", "Creates, shows and deletes rooms")
	rooms.AddCommand(
		leaf(leafSpec{
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
		leaf(leafSpec{
			use: "get <room>", args: []string{"room"}, short: "Shows a room, its guest access and its links",
			example: `  caddy guestgate rooms get demo`,
			run:     runRoomsGet,
		}),
		leaf(leafSpec{
			use: "delete <room>", args: []string{"room"}, short: "Deletes a room with its links and guests",
			long:    "Deletes the room at once and for good; its links stop working and its guests' next requests are refused.",
			example: `  caddy guestgate rooms delete demo`,
			run:     runRoomsDelete,
		}),
	)

	access := leaf(leafSpec{
		use: "access on|off <room>", args: []string{"on|off", "room"}, short: "Switches guest access of a room on or off",
		long: `Switches the room's "Enable guest access" on or off. Off makes every link of
the room inactive: new guests cannot join, and guests inside are refused at
their next request (open connections are not cut).`,
		example: `  caddy guestgate access on demo
  caddy guestgate access off demo`,
		run: runAccess,
	})

	links := group("links", "Creates, lists and deletes guest links")
	links.AddCommand(
		leaf(leafSpec{
			use: "create <room> --name <name> [--max-clicks <n>] [--days <n>]", args: []string{"room"},
			short: "Creates a guest link and prints its URL",
			long: `Creates a guest link in the room and prints its URL. Guest access must be on,
and a room has at most max_links links (3 by default). A click is one
submitted entry form; without --max-clicks the link is unlimited, without
--days it never expires.`,
			example: `  caddy guestgate links create demo --name "Guest speakers" --max-clicks 5 --days 7
  URL=$(caddy guestgate links create demo --name Press)`,
			flags: func(c *cobra.Command) {
				c.Flags().String("name", "", "Name of the link, 1 to 80 characters (required)")
				c.Flags().Int("max-clicks", 0, "Most guests who may use the link (default: unlimited)")
				c.Flags().Int("days", 0, "Days the link is valid, 1 to 365 (default: no end)")
			},
			run: runLinksCreate,
		}),
		leaf(leafSpec{
			use: "list <room>", args: []string{"room"}, short: "Lists the links of a room with their clicks",
			example: `  caddy guestgate links list demo
  caddy guestgate links list demo --json | jq -r '.[].url'`,
			run: runLinksList,
		}),
		leaf(leafSpec{
			use: "delete <room> <link-id>", args: []string{"room", "link-id"}, short: "Deletes a link, at once and for good",
			example: `  caddy guestgate links delete demo l_3v9...`,
			run:     runLinksDelete,
		}),
	)

	lobby := group("lobby", "Lists, admits and declines guests waiting in the lobby")
	lobby.AddCommand(
		leaf(leafSpec{
			use: "list <room>", args: []string{"room"}, short: "Lists the guests waiting in the lobby",
			example: `  caddy guestgate lobby list demo`,
			run:     runLobbyList,
		}),
		leaf(leafSpec{
			use: "admit <room> <guest-id>", args: []string{"room", "guest-id"}, short: "Admits a waiting guest",
			example: `  caddy guestgate lobby admit demo g_2kq8...`,
			run:     runLobbyDecide("admit"),
		}),
		leaf(leafSpec{
			use: "deny <room> <guest-id>", args: []string{"room", "guest-id"}, short: "Declines a waiting guest",
			example: `  caddy guestgate lobby deny demo g_2kq8...`,
			run:     runLobbyDecide("deny"),
		}),
		leaf(leafSpec{
			use: "admit-all <room>", args: []string{"room"}, short: "Admits everyone waiting",
			example: `  caddy guestgate lobby admit-all demo`,
			run:     runLobbyAdmitAll,
		}),
	)

	guests := group("guests", "Lists the guests of a room")
	guests.AddCommand(leaf(leafSpec{
		use: "list <room> [--csv]", args: []string{"room"}, short: "Lists who redeemed which link, and when",
		long: `Lists every guest of the room, newest first: who redeemed which link, when,
and their state. --csv prints the spreadsheet-safe CSV file of the API.`,
		example: `  caddy guestgate guests list demo
  caddy guestgate guests list demo --csv > guests.csv`,
		flags: func(c *cobra.Command) { c.Flags().Bool("csv", false, "Print CSV") },
		run:   runGuestsList,
	}))

	stores := leaf(leafSpec{
		use: "stores", short: "Lists the stores the running handlers use",
		example: `  caddy guestgate stores`,
		run:     runStores,
	})

	backup := leaf(leafSpec{
		use: "backup <file>", args: []string{"file"}, short: "Writes a backup of the store to a file",
		long: `Writes a full backup of the store (Badger's backup stream), taken while Caddy
keeps serving, to the file ("-" for standard output). The file appears only
once the whole backup has arrived.`,
		example: `  caddy guestgate backup /var/backups/guestgate-$(date +%F).backup`,
		run:     runBackup,
	})

	restore := leaf(leafSpec{
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
		flags: func(c *cobra.Command) {
			c.Flags().Bool("force", false, "Replace a store that is not empty")
			c.Flags().Bool("no-reload", false, "Do not reload the configuration afterwards")
		},
		run: runRestore,
	})

	cmd.AddCommand(rooms, access, links, lobby, guests, stores, backup, restore)
}

// exitWith turns err into caddycmd's exit error with status (it logs err the way
// Caddy's commands do).
func exitWith(cmd *cobra.Command, status int, err error) error {
	return caddycmd.WrapCommandFuncForCobra(func(caddycmd.Flags) (int, error) { return status, err })(cmd, nil)
}

// group is a command that only holds subcommands.
func group(name, short string) *cobra.Command {
	return &cobra.Command{Use: name + " <command>", Short: short, Args: cobra.ArbitraryArgs, RunE: groupRun}
}

// groupRun answers a group command run without a known subcommand: a usage error.
func groupRun(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return exitWith(cmd, exitUsage, usagef(cmd, "%s needs a command", cmd.CommandPath()))
	}
	return exitWith(cmd, exitUsage, usagef(cmd, "unknown command %q for %s", args[0], cmd.CommandPath()))
}

// leafSpec describes a command that does something.
type leafSpec struct {
	use, short, long, example string
	// args names the positional arguments, all required.
	args  []string
	flags func(*cobra.Command)
	run   func(c *cli, args []string) error
}

func leaf(s leafSpec) *cobra.Command {
	c := &cobra.Command{Use: s.use, Short: s.short, Long: s.long, Example: s.example, Args: cobra.ArbitraryArgs}
	if s.flags != nil {
		s.flags(c)
	}
	c.RunE = func(cmd *cobra.Command, args []string) error {
		return caddycmd.WrapCommandFuncForCobra(func(fl caddycmd.Flags) (int, error) {
			if len(args) != len(s.args) {
				want := "no arguments"
				if len(s.args) > 0 {
					want = strings.Join(s.args, " ")
				}
				return exitUsage, usagef(cmd, "%s takes %s, got %d argument(s)", cmd.CommandPath(), want, len(args))
			}
			cl, err := newCLI(cmd, fl)
			if err != nil {
				return caddy.ExitCodeFailedStartup, err
			}
			if err := s.run(cl, args); err != nil {
				var ue *usageError
				if errors.As(err, &ue) {
					return exitUsage, err
				}
				what := strings.TrimPrefix(cmd.CommandPath(), cmd.Root().Name()+" ")
				return caddy.ExitCodeFailedStartup, fmt.Errorf("%s: %w", strings.Join(append([]string{what}, args...), " "), err)
			}
			return caddy.ExitCodeSuccess, nil
		})(cmd, args)
	}
	return c
}

// cli is what a command works with: the flags, the output and the admin
// endpoint client.
type cli struct {
	cmd  *cobra.Command
	fl   caddycmd.Flags
	out  io.Writer
	json bool
	api  *adminClient
}

func newCLI(cmd *cobra.Command, fl caddycmd.Flags) (*cli, error) {
	addr, err := caddycmd.DetermineAdminAPIAddress(fl.String("address"), nil, fl.String("config"), fl.String("adapter"))
	if err != nil {
		return nil, fmt.Errorf("couldn't determine admin API address: %v", err)
	}
	api, err := newAdminClient(addr)
	if err != nil {
		return nil, err
	}
	if dir := fl.String("store"); dir != "" {
		// Caddy's working directory may differ from ours.
		abs, err := filepath.Abs(dir)
		if err != nil {
			return nil, fmt.Errorf("--store %s: %w", dir, err)
		}
		api.store = abs
	}
	return &cli{cmd: cmd, fl: fl, out: cmd.OutOrStdout(), json: fl.Bool("json"), api: api}, nil
}

// ---- the admin endpoint client ----

// adminClient calls admin.api.guestgate on Caddy's admin endpoint.
type adminClient struct {
	addr   string
	origin string
	socket bool // a unix socket or file descriptor: no Origin header
	store  string
	http   *http.Client
}

// newAdminClient returns a client of the admin endpoint at addr, which may be a
// TCP address or a unix socket ("unix//run/caddy-admin.sock"), dialled the way
// caddycmd.AdminAPIRequest does.
func newAdminClient(addr string) (*adminClient, error) {
	parsed, err := caddy.ParseNetworkAddress(addr)
	if err != nil || parsed.PortRangeSize() > 1 {
		return nil, fmt.Errorf("invalid admin address %s: %v", addr, err)
	}
	origin := "http://" + parsed.JoinHostPort(0)
	switch {
	case parsed.IsUnixNetwork():
		origin = "http://127.0.0.1"
		// Drop the socket's permission bits ("path|0220"): not part of the path.
		parsed.Host, _, _ = strings.Cut(parsed.Host, "|")
	case parsed.IsFdNetwork():
		origin = "http://127.0.0.1"
	}
	dial := parsed.JoinHostPort(0)
	return &adminClient{
		addr:   addr,
		origin: origin,
		socket: parsed.IsUnixNetwork() || parsed.IsFdNetwork(),
		http: &http.Client{Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, parsed.Network, dial)
			},
		}},
	}, nil
}

// opError is an error answer of the admin endpoint.
type opError struct {
	Status  int
	Code    string
	Message string
	Field   string
}

func (e *opError) Error() string {
	detail := fmt.Sprintf("HTTP %d", e.Status)
	if e.Code != "" {
		detail = e.Code + ", " + detail
	}
	if e.Field != "" {
		detail = "field " + e.Field + ", " + detail
	}
	return e.Message + " (" + detail + ")"
}

// request sends method path (under /guestgate, with ?store= added) and returns
// the response if its status is below 400; otherwise an *opError.
func (a *adminClient) request(ctx context.Context, method, path string, query url.Values, body io.Reader, header http.Header) (*http.Response, error) {
	if query == nil {
		query = url.Values{}
	}
	if a.store != "" && strings.HasPrefix(path, AdminAPIPrefix) {
		query.Set("store", a.store)
	}
	uri := path
	if len(query) > 0 {
		uri += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, a.origin+uri, body)
	if err != nil {
		return nil, fmt.Errorf("making request: %v", err)
	}
	if !a.socket {
		req.Header.Set("Origin", a.origin)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := a.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach Caddy's admin endpoint at %s: %v (is Caddy running? name the endpoint with --address or --config)", a.addr, err)
	}
	if resp.StatusCode < 400 {
		return resp, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return nil, parseOpError(resp.StatusCode, b)
}

// parseOpError reads an error body: guestgate's {"error": {"code", "message",
// "field"}} or Caddy's own {"error": "..."}.
func parseOpError(status int, body []byte) error {
	e := &opError{Status: status}
	var wrapper struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(body, &wrapper) == nil && len(wrapper.Error) > 0 {
		var obj struct{ Code, Message, Field string }
		if json.Unmarshal(wrapper.Error, &obj) == nil && obj.Message != "" {
			e.Code, e.Message, e.Field = obj.Code, obj.Message, obj.Field
			return e
		}
		var msg string
		if json.Unmarshal(wrapper.Error, &msg) == nil && msg != "" {
			e.Message = msg
			return e
		}
	}
	e.Message = strings.TrimSpace(string(body))
	if e.Message == "" {
		e.Message = http.StatusText(status)
	}
	if status == http.StatusNotFound && !strings.Contains(e.Message, "guestgate") && !bytes.Contains(body, []byte(`"code"`)) {
		e.Message += " (is guestgate in this Caddy? 'caddy list-modules' should show admin.api.guestgate)"
	}
	return e
}

// callJSON sends body (if not nil) as JSON and returns the answer's body; a
// 204 answer gives nil.
func (a *adminClient) callJSON(method, path string, query url.Values, body any) ([]byte, int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var r io.Reader
	header := http.Header{}
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, 0, err
		}
		r = bytes.NewReader(b)
		header.Set("Content-Type", "application/json")
	}
	resp, err := a.request(ctx, method, path, query, r, header)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, resp.StatusCode, fmt.Errorf("reading the answer: %v", err)
	}
	return out, resp.StatusCode, nil
}

// apiPath is the path of a moderator API call on the admin endpoint; parts are
// escaped.
func apiPath(parts ...string) string {
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return AdminAPIPrefix + "api/rooms/" + strings.Join(parts, "/")
}

// ---- what the API answers ----

// ---- output ----

// printJSON prints raw JSON indented, or v encoded if raw is nil.
func (c *cli) printJSON(raw []byte, v any) error {
	if raw == nil {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		raw = b
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, bytes.TrimSpace(raw), "", "  "); err != nil {
		return fmt.Errorf("Caddy answered something that is not JSON: %v", err)
	}
	buf.WriteByte('\n')
	_, err := c.out.Write(buf.Bytes())
	return err
}

func (c *cli) printf(format string, args ...any) { fmt.Fprintf(c.out, format, args...) }

// table prints rows under a header, in aligned columns.
func (c *cli) table(header []string, rows [][]string) error {
	tw := tabwriter.NewWriter(c.out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// get asks the API for path. With --json it prints the answer as it came and
// reports printed; otherwise it decodes the answer into a T.
func get[T any](c *cli, path string) (v T, printed bool, err error) {
	raw, _, err := c.api.callJSON(http.MethodGet, path, nil, nil)
	if err != nil {
		return v, false, err
	}
	if c.json {
		return v, true, c.printJSON(raw, nil)
	}
	v, err = decode[T](raw)
	return v, false, err
}

func decode[T any](raw []byte) (T, error) {
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		return v, fmt.Errorf("reading Caddy's answer: %v", err)
	}
	return v, nil
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func when(t time.Time) string { return t.Local().Format("2006-01-02 15:04") }

func linkRows(links []admin.LinkJSON) [][]string {
	rows := make([][]string, 0, len(links))
	for _, l := range links {
		clicks := strconv.Itoa(l.Clicks)
		if l.MaxClicks != nil {
			clicks += "/" + strconv.Itoa(*l.MaxClicks)
		}
		expires := "never"
		if l.ExpiresAt != nil {
			expires = when(*l.ExpiresAt)
		}
		rows = append(rows, []string{l.ID, l.Name, clicks, expires, yesNo(l.Active), l.URL})
	}
	return rows
}

var linkHeader = []string{"ID", "NAME", "CLICKS", "EXPIRES", "ACTIVE", "URL"}

// ---- commands ----

func runRoomsPut(c *cli, args []string) error {
	spec := map[string]any{}
	for flag, field := range map[string]string{"name": "name", "kind": "kind", "admission": "admission"} {
		if c.cmd.Flags().Changed(flag) {
			spec[field] = c.fl.String(flag)
		}
	}
	if c.cmd.Flags().Changed("available") {
		spec["available"] = c.fl.Bool("available")
	}
	raw, status, err := c.api.callJSON(http.MethodPut, apiPath(args[0]), nil, spec)
	if err != nil {
		return err
	}
	if c.json {
		return c.printJSON(raw, nil)
	}
	r, err := decode[admin.RoomJSON](raw)
	if err != nil {
		return err
	}
	verb := "updated"
	if status == http.StatusCreated {
		verb = "created"
	}
	c.printf("Room %s %s.\n", r.ID, verb)
	return c.printRoom(r)
}

func (c *cli) printRoom(r admin.RoomJSON) error {
	tw := tabwriter.NewWriter(c.out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "Room:\t%s\n", r.ID)
	fmt.Fprintf(tw, "Name:\t%s\n", r.Name)
	fmt.Fprintf(tw, "Kind:\t%s\n", r.Kind)
	fmt.Fprintf(tw, "Available:\t%s\n", yesNo(r.Available))
	fmt.Fprintf(tw, "Admission:\t%s\n", r.Admission)
	fmt.Fprintf(tw, "Guest access:\t%s\n", onOff(r.GuestAccess))
	fmt.Fprintf(tw, "Links:\t%d of %d\n", len(r.Links), r.MaxLinks)
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(r.Links) == 0 {
		return nil
	}
	c.printf("\n")
	return c.table(linkHeader, linkRows(r.Links))
}

func runRoomsGet(c *cli, args []string) error {
	r, printed, err := get[admin.RoomJSON](c, apiPath(args[0]))
	if err != nil || printed {
		return err
	}
	return c.printRoom(r)
}

func runRoomsDelete(c *cli, args []string) error {
	if _, _, err := c.api.callJSON(http.MethodDelete, apiPath(args[0]), nil, nil); err != nil {
		return err
	}
	if !c.json {
		c.printf("Room %s deleted.\n", args[0])
	}
	return nil
}

func runAccess(c *cli, args []string) error {
	var on bool
	switch args[0] {
	case "on":
		on = true
	case "off":
	default:
		return usagef(c.cmd, "access takes on or off, got %q", args[0])
	}
	raw, _, err := c.api.callJSON(http.MethodPut, apiPath(args[1], "guest-access"), nil, map[string]bool{"enabled": on})
	if err != nil {
		return err
	}
	if c.json {
		return c.printJSON(raw, nil)
	}
	c.printf("Guest access to room %s is %s.\n", args[1], onOff(on))
	return nil
}

func runLinksCreate(c *cli, args []string) error {
	if !c.cmd.Flags().Changed("name") {
		return usagef(c.cmd, "--name is required")
	}
	spec := map[string]any{"name": c.fl.String("name")}
	for flag, field := range map[string]string{"max-clicks": "max_clicks", "days": "duration_days"} {
		if c.cmd.Flags().Changed(flag) {
			n, err := c.cmd.Flags().GetInt(flag)
			if err != nil {
				return usagef(c.cmd, "--%s: %v", flag, err)
			}
			spec[field] = n
		}
	}
	raw, _, err := c.api.callJSON(http.MethodPost, apiPath(args[0], "links"), nil, spec)
	if err != nil {
		return err
	}
	if c.json {
		return c.printJSON(raw, nil)
	}
	l, err := decode[admin.LinkJSON](raw)
	if err != nil {
		return err
	}
	c.printf("%s\n", l.URL)
	return nil
}

func runLinksList(c *cli, args []string) error {
	links, printed, err := get[[]admin.LinkJSON](c, apiPath(args[0], "links"))
	if err != nil || printed {
		return err
	}
	if len(links) == 0 {
		c.printf("Room %s has no links.\n", args[0])
		return nil
	}
	return c.table(linkHeader, linkRows(links))
}

func runLinksDelete(c *cli, args []string) error {
	if _, _, err := c.api.callJSON(http.MethodDelete, apiPath(args[0], "links", args[1]), nil, nil); err != nil {
		return err
	}
	if !c.json {
		c.printf("Link %s of room %s deleted.\n", args[1], args[0])
	}
	return nil
}

func runLobbyList(c *cli, args []string) error {
	gs, printed, err := get[[]admin.GuestJSON](c, apiPath(args[0], "lobby"))
	if err != nil || printed {
		return err
	}
	if len(gs) == 0 {
		c.printf("No one is waiting in the lobby of room %s.\n", args[0])
		return nil
	}
	rows := make([][]string, 0, len(gs))
	for _, g := range gs {
		since := g.RedeemedAt
		if g.WaitingSince != nil {
			since = *g.WaitingSince
		}
		rows = append(rows, []string{g.ID, g.Name, g.Email, g.LinkName, when(since)})
	}
	return c.table([]string{"GUEST", "NAME", "EMAIL", "LINK", "WAITING SINCE"}, rows)
}

func runLobbyDecide(action string) func(*cli, []string) error {
	return func(c *cli, args []string) error {
		raw, _, err := c.api.callJSON(http.MethodPost, apiPath(args[0], "lobby", args[1], action), nil, nil)
		if err != nil {
			return err
		}
		if c.json {
			return c.printJSON(raw, nil)
		}
		g, err := decode[admin.GuestJSON](raw)
		if err != nil {
			return err
		}
		verb := "Admitted"
		if action == "deny" {
			verb = "Declined"
		}
		c.printf("%s %s <%s> (%s) to room %s.\n", verb, g.Name, g.Email, g.ID, args[0])
		return nil
	}
}

func runLobbyAdmitAll(c *cli, args []string) error {
	raw, _, err := c.api.callJSON(http.MethodPost, apiPath(args[0], "lobby", "admit-all"), nil, nil)
	if err != nil {
		return err
	}
	if c.json {
		return c.printJSON(raw, nil)
	}
	res, err := decode[struct {
		Admitted []admin.GuestJSON `json:"admitted"`
		Count    int               `json:"count"`
	}](raw)
	if err != nil {
		return err
	}
	c.printf("Admitted %d guest(s) to room %s.\n", res.Count, args[0])
	for _, g := range res.Admitted {
		c.printf("  %s  %s <%s>\n", g.ID, g.Name, g.Email)
	}
	return nil
}

func runGuestsList(c *cli, args []string) error {
	if c.fl.Bool("csv") {
		if c.json {
			return usagef(c.cmd, "--csv and --json exclude each other")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		resp, err := c.api.request(ctx, http.MethodGet, apiPath(args[0], "guests"), url.Values{"format": {"csv"}}, nil, nil)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		_, err = io.Copy(c.out, resp.Body)
		return err
	}
	var all []admin.GuestJSON
	cursor := ""
	for {
		q := url.Values{"limit": {"1000"}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		raw, _, err := c.api.callJSON(http.MethodGet, apiPath(args[0], "guests"), q, nil)
		if err != nil {
			return err
		}
		page, err := decode[struct {
			Guests     []admin.GuestJSON `json:"guests"`
			NextCursor string            `json:"next_cursor"`
		}](raw)
		if err != nil {
			return err
		}
		all = append(all, page.Guests...)
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	if c.json {
		if all == nil {
			all = []admin.GuestJSON{}
		}
		return c.printJSON(nil, all)
	}
	if len(all) == 0 {
		c.printf("Room %s has no guests.\n", args[0])
		return nil
	}
	rows := make([][]string, 0, len(all))
	for _, g := range all {
		rows = append(rows, []string{g.ID, g.Name, g.Email, g.LinkName, when(g.RedeemedAt), g.State})
	}
	return c.table([]string{"GUEST", "NAME", "EMAIL", "LINK", "REDEEMED", "STATE"}, rows)
}

func runStores(c *cli, _ []string) error {
	res, printed, err := get[struct {
		Stores []storeInfo `json:"stores"`
	}](c, AdminAPIPrefix+"stores")
	if err != nil || printed {
		return err
	}
	if len(res.Stores) == 0 {
		c.printf("No guestgate handler is running.\n")
		return nil
	}
	rows := make([][]string, 0, len(res.Stores))
	for _, s := range res.Stores {
		base := s.LinkBase
		if base == "" {
			base = "-"
		}
		rows = append(rows, []string{s.Store, yesNo(s.GuestAdmin), strconv.Itoa(s.MaxLinks), base})
	}
	return c.table([]string{"STORE", "GUEST_ADMIN", "MAX_LINKS", "LINK_BASE"}, rows)
}

func runBackup(c *cli, args []string) error {
	file := args[0]
	resp, err := c.api.request(context.Background(), http.MethodGet, AdminAPIPrefix+"backup", nil, nil, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if file == "-" {
		if _, err := io.Copy(c.out, resp.Body); err != nil {
			return fmt.Errorf("the backup did not arrive whole: %v", err)
		}
		return nil
	}
	// Write next to the file, then rename: a failed backup never leaves a
	// file that looks whole.
	tmp, err := os.CreateTemp(filepath.Dir(file), "."+filepath.Base(file)+".part-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	n, err := io.Copy(tmp, resp.Body)
	if err != nil {
		tmp.Close()
		return fmt.Errorf("the backup did not arrive whole: %v", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), file); err != nil {
		return err
	}
	if c.json {
		return c.printJSON(nil, map[string]any{"file": file, "bytes": n})
	}
	c.printf("Backup written to %s (%d bytes).\n", file, n)
	return nil
}

func runRestore(c *cli, args []string) error {
	f, err := os.Open(args[0])
	if err != nil {
		return err
	}
	defer f.Close()
	q := url.Values{}
	if c.fl.Bool("force") {
		q.Set("force", "true")
	}
	resp, err := c.api.request(context.Background(), http.MethodPost, AdminAPIPrefix+"restore", q, f,
		http.Header{"Content-Type": {"application/octet-stream"}})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("reading the answer: %v", err)
	}
	res, err := decode[restoreResult](raw)
	if err != nil {
		return err
	}
	reloaded := false
	if !c.fl.Bool("no-reload") {
		if err := c.api.reloadRunningConfig(); err != nil {
			return fmt.Errorf("store %s restored, but reloading the configuration failed: %v; reload it yourself (caddy reload --force)", res.Store, err)
		}
		reloaded = true
	}
	if c.json {
		return c.printJSON(nil, map[string]any{"store": res.Store, "restored": true, "reloaded": reloaded})
	}
	c.printf("Store %s restored from %s.\n", res.Store, args[0])
	if reloaded {
		c.printf("Configuration reloaded: the handlers use the restored keys.\n")
	} else {
		c.printf("Reload the configuration (caddy reload --force) so that the handlers use the restored keys.\n")
	}
	return nil
}

// reloadRunningConfig loads the running configuration again, forced, the way
// "caddy reload --force" does with a file: GET /config/, then POST /load with
// Cache-Control: must-revalidate.
func (a *adminClient) reloadRunningConfig() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	resp, err := a.request(ctx, http.MethodGet, "/config/", nil, nil, nil)
	if err != nil {
		return err
	}
	cfg, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return fmt.Errorf("reading the running configuration: %v", err)
	}
	resp, err = a.request(ctx, http.MethodPost, "/load", nil, bytes.NewReader(cfg), http.Header{
		"Content-Type":  {"application/json"},
		"Cache-Control": {"must-revalidate"},
	})
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}
