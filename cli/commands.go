package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/guestgate/guestgate/admin"
	"github.com/guestgate/guestgate/guestlink/export"
)

// printJSON prints raw JSON indented, or v encoded if raw is nil.
func (c *invocation) printJSON(raw []byte, v any) error {
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

func (c *invocation) printf(format string, args ...any) { fmt.Fprintf(c.out, format, args...) }

// table prints rows under a header, in aligned columns.
func (c *invocation) table(header []string, rows [][]string) error {
	tw := tabwriter.NewWriter(c.out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// list prints rows as a table under header, or the line empty when there are
// no rows.
func (c *invocation) list(empty string, header []string, rows [][]string) error {
	if len(rows) == 0 {
		c.printf("%s\n", empty)
		return nil
	}
	return c.table(header, rows)
}

// rowsOf is a table's rows, row(item) for each of items.
func rowsOf[T any](items []T, row func(T) []string) [][]string {
	out := make([][]string, 0, len(items))
	for _, it := range items {
		out = append(out, row(it))
	}
	return out
}

// listRows prints the list that GET path answers as a table under header,
// row(item) for each item, or the line empty when the list is empty; the
// API's JSON with --json.
func listRows[T any](c *invocation, path, empty string, header []string, row func(T) []string) error {
	items, printed, err := get[[]T](c, path)
	if err != nil || printed {
		return err
	}
	return c.list(empty, header, rowsOf(items, row))
}

// call sends method path to the API with body as JSON (nil: none). With
// --json it prints the answer as it came and reports printed; otherwise it
// decodes the answer into a T. status is the answer's.
func call[T any](c *invocation, method, path string, body any) (v T, status int, printed bool, err error) {
	raw, status, err := c.api.callJSON(method, path, nil, body)
	if err != nil {
		return v, status, false, err
	}
	if c.json {
		return v, status, true, c.printJSON(raw, nil)
	}
	v, err = decode[T](raw)
	return v, status, false, err
}

// get is call with GET.
func get[T any](c *invocation, path string) (v T, printed bool, err error) {
	v, _, printed, err = call[T](c, http.MethodGet, path, nil)
	return v, printed, err
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

func linkRow(l admin.LinkJSON) []string {
	clicks := strconv.Itoa(l.Clicks)
	if l.MaxClicks != nil {
		clicks += "/" + strconv.Itoa(*l.MaxClicks)
	}
	expires := "never"
	if l.ExpiresAt != nil {
		expires = when(*l.ExpiresAt)
	}
	opens := "-"
	if l.NotBefore != nil {
		opens = when(*l.NotBefore)
	}
	return []string{l.ID, l.Name, l.Role, clicks, expires, opens, yesNo(l.Active), l.URL}
}

// linkHeader heads linkRow: OPENS is the link's not_before ("-": open from
// its creation); a link that opens later is not ACTIVE until then.
var linkHeader = []string{"ID", "NAME", "ROLE", "CLICKS", "EXPIRES", "OPENS", "ACTIVE", "URL"}

func runRoomsPut(c *invocation, args []string) error {
	spec := map[string]any{}
	for flag, field := range map[string]string{"name": "name", "kind": "kind", "admission": "admission"} {
		if c.cmd.Flags().Changed(flag) {
			spec[field] = c.str(flag)
		}
	}
	if c.cmd.Flags().Changed("available") {
		spec["available"] = c.flag("available")
	}
	r, status, printed, err := call[admin.RoomJSON](c, http.MethodPut, apiPath(args[0]), spec)
	if err != nil || printed {
		return err
	}
	verb := "updated"
	if status == http.StatusCreated {
		verb = "created"
	}
	c.printf("Room %s %s.\n", r.ID, verb)
	return c.printRoom(r)
}

func (c *invocation) printRoom(r admin.RoomJSON) error {
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
	return c.table(linkHeader, rowsOf(r.Links, linkRow))
}

func runRoomsGet(c *invocation, args []string) error {
	r, printed, err := get[admin.RoomJSON](c, apiPath(args[0]))
	if err != nil || printed {
		return err
	}
	return c.printRoom(r)
}

func runRoomsDelete(c *invocation, args []string) error {
	return c.remove(apiPath(args[0]), "Room "+args[0]+" deleted.")
}

// remove sends DELETE path, which answers nothing, and prints the sentence
// done unless --json.
func (c *invocation) remove(path, done string) error {
	if _, _, err := c.api.callJSON(http.MethodDelete, path, nil, nil); err != nil {
		return err
	}
	if !c.json {
		c.printf("%s\n", done)
	}
	return nil
}

func runAccess(c *invocation, args []string) error {
	var on bool
	switch args[0] {
	case "on":
		on = true
	case "off":
	default:
		return usagef(c.cmd, "access takes on or off, got %q", args[0])
	}
	_, _, printed, err := call[admin.RoomJSON](c, http.MethodPut, apiPath(args[1], "guest-access"), map[string]bool{"enabled": on})
	if err != nil || printed {
		return err
	}
	c.printf("Guest access to room %s is %s.\n", args[1], onOff(on))
	return nil
}

func runLinksCreate(c *invocation, args []string) error {
	if err := c.required("name"); err != nil {
		return err
	}
	spec := map[string]any{"name": c.str("name")}
	return c.create(apiPath(args[0], "links"), spec, map[string]string{"max-clicks": "max_clicks", "days": "duration_days"})
}

func runLinksList(c *invocation, args []string) error {
	return listRows(c, apiPath(args[0], "links"), "Room "+args[0]+" has no links.", linkHeader, linkRow)
}

func runLinksDelete(c *invocation, args []string) error {
	return c.remove(apiPath(args[0], "links", args[1]), "Link "+args[1]+" of room "+args[0]+" deleted.")
}

// required is a usage error naming the first of the flags not given.
func (c *invocation) required(flags ...string) error {
	for _, f := range flags {
		if !c.cmd.Flags().Changed(f) {
			return usagef(c.cmd, "--%s is required", f)
		}
	}
	return nil
}

// create posts to path the body of a new link or invitation: spec, with what
// the flags --role and --not-before (an RFC 3339 time) and the int flags that
// ints names (flag: field) give; and prints the URL of what it made.
func (c *invocation) create(path string, spec map[string]any, ints map[string]string) error {
	flags := c.cmd.Flags()
	if flags.Changed("role") {
		spec["role"] = c.str("role") // the API names the roles each may give
	}
	if flags.Changed("not-before") {
		at, err := time.Parse(time.RFC3339, c.str("not-before"))
		if err != nil {
			return usagef(c.cmd, "--not-before takes an RFC 3339 time, such as 2027-03-01T09:30:00+01:00 or 2027-03-01T08:30:00Z; got %q", c.str("not-before"))
		}
		spec["not_before"] = at.Format(time.RFC3339)
	}
	for flag, field := range ints {
		if flags.Changed(flag) {
			n, err := flags.GetInt(flag)
			if err != nil {
				return usagef(c.cmd, "--%s: %v", flag, err)
			}
			spec[field] = n
		}
	}
	made, _, printed, err := call[struct {
		URL string `json:"url"`
	}](c, http.MethodPost, path, spec)
	if err != nil || printed {
		return err
	}
	c.printf("%s\n", made.URL)
	return nil
}

func runInvitationsCreate(c *invocation, args []string) error {
	if err := c.required("email", "name"); err != nil {
		return err
	}
	spec := map[string]any{"email": c.str("email"), "name": c.str("name")}
	unlimited := c.flag("unlimited")
	if unlimited && c.cmd.Flags().Changed("max-uses") {
		return usagef(c.cmd, "--max-uses and --unlimited exclude each other")
	}
	if unlimited {
		spec["max_uses"] = nil
	}
	return c.create(apiPath(args[0], "invitations"), spec, map[string]string{"max-uses": "max_uses", "hours": "duration_hours"})
}

func runInvitationsList(c *invocation, args []string) error {
	return listRows(c, apiPath(args[0], "invitations"), "Room "+args[0]+" has no invitations.",
		[]string{"INVITATION", "EMAIL", "NAME", "ROLE", "USES", "EXPIRES", "STATE", "URL"},
		func(v admin.InvitationJSON) []string {
			uses := strconv.Itoa(v.Uses) + "/unlimited"
			if v.MaxUses != nil {
				uses = strconv.Itoa(v.Uses) + "/" + strconv.Itoa(*v.MaxUses)
			}
			return []string{v.ID, v.Email, v.Name, v.Role, uses, when(v.ExpiresAt), invitationState(v, time.Now()), v.URL}
		})
}

// invitationState says whether invitation v may be used at now, and if not
// why, in the words of the Manage page.
func invitationState(v admin.InvitationJSON, now time.Time) string {
	switch {
	case v.Active:
		return "active"
	case v.MaxUses != nil && v.Uses >= *v.MaxUses:
		return "used up"
	case !now.Before(v.ExpiresAt):
		return "expired"
	case v.NotBefore != nil && now.Before(*v.NotBefore):
		return "opens " + when(*v.NotBefore)
	}
	return "room unavailable"
}

func runInvitationsDelete(c *invocation, args []string) error {
	return c.remove(apiPath(args[0], "invitations", args[1]), "Invitation "+args[1]+" of room "+args[0]+" deleted.")
}

func runLobbyList(c *invocation, args []string) error {
	return listRows(c, apiPath(args[0], "lobby"), "No one is waiting in the lobby of room "+args[0]+".",
		[]string{"GUEST", "NAME", "EMAIL", "LINK", "WAITING SINCE"},
		func(g admin.GuestJSON) []string {
			since := g.RedeemedAt
			if g.WaitingSince != nil {
				since = *g.WaitingSince
			}
			return []string{g.ID, g.Name, g.Email, g.LinkName, when(since)}
		})
}

func runLobbyDecide(action string) func(*invocation, []string) error {
	return func(c *invocation, args []string) error {
		g, _, printed, err := call[admin.GuestJSON](c, http.MethodPost, apiPath(args[0], "lobby", args[1], action), nil)
		if err != nil || printed {
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

func runLobbyAdmitAll(c *invocation, args []string) error {
	res, _, printed, err := call[admin.AdmitAllJSON](c, http.MethodPost, apiPath(args[0], "lobby", "admit-all"), nil)
	if err != nil || printed {
		return err
	}
	c.printf("Admitted %d guest(s) to room %s.\n", res.Count, args[0])
	for _, g := range res.Admitted {
		c.printf("  %s  %s <%s>\n", g.ID, g.Name, g.Email)
	}
	return nil
}

func runLobbyMessage(c *invocation, args []string) error {
	r, _, printed, err := call[admin.RoomJSON](c, http.MethodPut, apiPath(args[0], "lobby", "message"), map[string]string{"text": args[1]})
	if err != nil || printed {
		return err
	}
	if r.LobbyMessage == "" {
		c.printf("Cleared the lobby message of room %s.\n", args[0])
		return nil
	}
	c.printf("The guests waiting in room %s now read: %s\n", args[0], r.LobbyMessage)
	return nil
}

func runLobbyClearMessage(c *invocation, args []string) error {
	_, _, printed, err := call[admin.RoomJSON](c, http.MethodDelete, apiPath(args[0], "lobby", "message"), nil)
	if err != nil || printed {
		return err
	}
	c.printf("Cleared the lobby message of room %s.\n", args[0])
	return nil
}

func runGuestsList(c *invocation, args []string) error {
	if c.flag("csv") {
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
		page, err := decode[admin.GuestPageJSON](raw)
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
	return c.list("Room "+args[0]+" has no guests.", []string{"GUEST", "NAME", "EMAIL", "LINK", "ROLE", "REDEEMED", "STATE"},
		rowsOf(all, func(g admin.GuestJSON) []string {
			return []string{g.ID, g.Name, g.Email, g.LinkName, g.Role, when(g.RedeemedAt), g.State}
		}))
}

func runStores(c *invocation, _ []string) error {
	res, printed, err := get[admin.StoresJSON](c, admin.EndpointPrefix+"stores")
	if err != nil || printed {
		return err
	}
	return c.list("No guestgate handler is running.", []string{"STORE", "GUEST_ADMIN", "MAX_LINKS", "LINK_BASE"},
		rowsOf(res.Stores, func(s admin.StoreJSON) []string {
			base := s.LinkBase
			if base == "" {
				base = "-"
			}
			return []string{s.Store, yesNo(s.GuestAdmin), strconv.Itoa(s.MaxLinks), base}
		}))
}

func runBackup(c *invocation, args []string) error {
	n, err := c.download(admin.EndpointPrefix+"backup", args[0], nil)
	if err != nil {
		return err
	}
	if args[0] == "-" {
		return nil
	}
	if c.json {
		return c.printJSON(nil, map[string]any{"file": args[0], "bytes": n})
	}
	c.printf("Backup written to %s (%d bytes).\n", args[0], n)
	return nil
}

func runExport(c *invocation, args []string) error {
	var counts export.Counts
	n, err := c.download(admin.EndpointPrefix+"export", args[0], func(r io.Reader) error {
		rd, err := export.NewReader(r)
		if err != nil {
			return err
		}
		for {
			if _, err := rd.Next(); err != nil {
				counts = rd.Counts()
				if errors.Is(err, io.EOF) {
					return nil
				}
				return err
			}
		}
	})
	if err != nil {
		return err
	}
	if args[0] == "-" {
		return nil
	}
	if c.json {
		return c.printJSON(nil, map[string]any{"file": args[0], "bytes": n, "exported": counts})
	}
	c.printf("Export written to %s (%d bytes): %s.\n", args[0], n, counts)
	return nil
}

// download writes the answer of GET path to file ("-": the output) and
// returns the file's size. A file is written next to its place and renamed at the
// end, so that a failed download never leaves a file that looks whole.
// check, if not nil, reads the answer as it arrives (and must read it to its
// end): its error fails the download.
func (c *invocation) download(path, file string, check func(io.Reader) error) (int64, error) {
	resp, err := c.api.request(context.Background(), http.MethodGet, path, nil, nil, nil)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var (
		dst io.Writer = c.out
		tmp *os.File
	)
	if file != "-" {
		if tmp, err = os.CreateTemp(filepath.Dir(file), "."+filepath.Base(file)+".part-*"); err != nil {
			return 0, err
		}
		defer os.Remove(tmp.Name())
		defer tmp.Close()
		dst = tmp
	}
	body := io.TeeReader(resp.Body, dst)
	if check != nil {
		err = check(body)
	}
	if err == nil {
		_, err = io.Copy(io.Discard, body)
	}
	if err != nil {
		return 0, fmt.Errorf("the %s did not arrive whole: %v", strings.TrimPrefix(path, admin.EndpointPrefix), err)
	}
	if tmp == nil {
		return 0, nil
	}
	if err := tmp.Sync(); err != nil {
		return 0, err
	}
	fi, err := tmp.Stat()
	if err != nil {
		return 0, err
	}
	if err := tmp.Close(); err != nil {
		return 0, err
	}
	return fi.Size(), os.Rename(tmp.Name(), file)
}

func runRestore(c *invocation, args []string) error {
	res, err := upload[admin.RestoreJSON](c, admin.EndpointPrefix+"restore", args[0])
	if err != nil {
		return err
	}
	return c.reloadAfter(res.Store, "restored", map[string]any{"restored": true},
		fmt.Sprintf("Store %s restored from %s.\n", res.Store, args[0]))
}

func runImport(c *invocation, args []string) error {
	res, err := upload[admin.ImportJSON](c, admin.EndpointPrefix+"import", args[0])
	if err != nil {
		return err
	}
	return c.reloadAfter(res.Store, "imported", map[string]any{"imported": res.Imported},
		fmt.Sprintf("Store %s imported from %s: %s.\n", res.Store, args[0], res.Imported))
}

// upload sends file to path (with ?force=true for --force) and decodes the
// answer into a T.
func upload[T any](c *invocation, path, file string) (T, error) {
	var v T
	f, err := os.Open(file)
	if err != nil {
		return v, err
	}
	defer f.Close()
	q := url.Values{}
	if c.flag("force") {
		q.Set("force", "true")
	}
	resp, err := c.api.request(context.Background(), http.MethodPost, path, q, f,
		http.Header{"Content-Type": {"application/octet-stream"}})
	if err != nil {
		return v, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return v, fmt.Errorf("reading the answer: %v", err)
	}
	return decode[T](raw)
}

// reloadAfter finishes a command that replaced the contents of store (done:
// "restored", "imported"). Unless --no-reload, it reloads the running
// configuration, so that the handlers load the store's keys. It prints out,
// with the store and whether it reloaded, as JSON; or text and what the
// reload did, or that one is needed.
func (c *invocation) reloadAfter(store, done string, out map[string]any, text string) error {
	reloaded := false
	if !c.flag("no-reload") {
		if err := c.api.reloadRunningConfig(); err != nil {
			return fmt.Errorf("store %s %s, but reloading the configuration failed: %v; reload it yourself (caddy reload --force)", store, done, err)
		}
		reloaded = true
	}
	if c.json {
		out["store"], out["reloaded"] = store, reloaded
		return c.printJSON(nil, out)
	}
	c.printf("%s", text)
	if reloaded {
		c.printf("Configuration reloaded: the handlers use the %s keys.\n", done)
	} else {
		c.printf("Reload the configuration (caddy reload --force) so that the handlers use the %s keys.\n", done)
	}
	return nil
}
