package caddyconf

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// config is what the options of the tests' directive fill.
type config struct {
	One, Choice, Checked, Secret string
	Repeat, List                 []string
	Flag                         bool
	Duration                     caddy.Duration
	Count                        int
	Block                        *config
}

// parse reads a directive whose table has one option of each kind, and a
// nested block whose options are checked as a whole (it needs "one").
func parse(input string) (config, error) {
	var c config
	var opts func(c *config) map[string]Option
	opts = func(c *config) map[string]Option {
		return map[string]Option{
			"one":    One(&c.One),
			"choice": Choice(&c.Choice, "choice: must be 'a' or 'b', got '%s'", "a", "b"),
			"checked": Checked(&c.Checked, "test", func(s string) error {
				if s != "ok" {
					return fmt.Errorf("checked %q: not ok", s)
				}
				return nil
			}),
			"secret":   Secret(&c.Secret, "secret: give one value"),
			"repeat":   Repeat(&c.Repeat),
			"list":     List(&c.List),
			"flag":     Flag(&c.Flag),
			"duration": Duration(&c.Duration),
			"count":    Count(&c.Count),
			"block": func(d *caddyfile.Dispenser) error {
				c.Block = new(config)
				return CheckedBlock(d, "block option", opts(c.Block), func() error {
					if c.Block.One == "" {
						return errors.New("block: one is required")
					}
					return nil
				})
			},
		}
	}
	return c, Directive(caddyfile.NewTestDispenser(input), opts(&c), "repeat", "list")
}

// TestOptions: every kind of option reads what its line gives into its
// field, and what is wrong is said on the line where it is wrong, in the
// words the modules' Caddyfile errors are made of: a wrong count of
// arguments (without showing a secret), an unknown or repeated option, an
// argument that is not one of the choices, a bad duration or count, and,
// for a block checked as a whole, the block's own line.
func TestOptions(t *testing.T) {
	for _, tc := range []struct {
		name, input string
		want        config
		wantErr     string
	}{
		{
			name: "every kind",
			input: `test {
				one x
				choice b
				checked ok
				secret "two words"
				repeat r1
				repeat r2
				list l1 l2
				list l3
				flag
				duration 90s
				count 7
				block {
					one y
				}
			}`,
			want: config{One: "x", Choice: "b", Checked: "ok", Secret: "two words", Repeat: []string{"r1", "r2"}, List: []string{"l1", "l2", "l3"},
				Flag: true, Duration: caddy.Duration(90 * time.Second), Count: 7, Block: &config{One: "y"}},
		},
		{name: "empty", input: "test", want: config{}},
		{name: "directive argument", input: "test x", wantErr: "wrong argument count or unexpected line ending after 'x', at Testfile:1"},
		{name: "unknown", input: "test {\n\tbogus\n}", wantErr: "unrecognized subdirective 'bogus', at Testfile:2"},
		{name: "duplicate", input: "test {\n\tone a\n\tone b\n}", wantErr: "duplicate subdirective 'one', at Testfile:3"},
		{name: "one missing", input: "test {\n\tone\n}", wantErr: "wrong argument count or unexpected line ending after 'one', at Testfile:2"},
		{name: "one extra", input: "test {\n\tone a b\n}", wantErr: "wrong argument count or unexpected line ending after 'b', at Testfile:2"},
		{name: "choice", input: "test {\n\tchoice c\n}", wantErr: "choice: must be 'a' or 'b', got 'c', at Testfile:2"},
		{name: "checked", input: "test {\n\tchecked bad\n}", wantErr: `test checked "bad": not ok, at Testfile:2`},
		{name: "secret of two words", input: "test {\n\tsecret hunter2 hunter3\n}", wantErr: "secret: give one value, at Testfile:2"},
		{name: "repeat extra", input: "test {\n\trepeat a b c\n}", wantErr: "wrong argument count or unexpected line ending after 'c', at Testfile:2"},
		{name: "list empty", input: "test {\n\tlist\n}", wantErr: "wrong argument count or unexpected line ending after 'list', at Testfile:2"},
		{name: "flag with a value", input: "test {\n\tflag yes\n}", wantErr: "wrong argument count or unexpected line ending after 'yes', at Testfile:2"},
		{name: "duration bad", input: "test {\n\tduration soon\n}", wantErr: "duration: invalid duration 'soon', at Testfile:2"},
		{name: "duration zero", input: "test {\n\tduration 0s\n}", wantErr: "duration: invalid duration '0s', at Testfile:2"},
		{name: "count zero", input: "test {\n\tcount 0\n}", wantErr: "count: must be a whole number of at least 1, got '0', at Testfile:2"},
		{name: "count not a number", input: "test {\n\tcount many\n}", wantErr: "count: must be a whole number of at least 1, got 'many', at Testfile:2"},
		{name: "block argument", input: "test {\n\tblock x {\n\t}\n}", wantErr: "wrong argument count or unexpected line ending after 'x', at Testfile:2"},
		{name: "block option on its line", input: "test {\n\tblock {\n\t\tone y\n\t\tcount 0\n\t}\n}", wantErr: "count: must be a whole number of at least 1, got '0', at Testfile:4"},
		{name: "block unknown option", input: "test {\n\tblock {\n\t\tbogus\n\t}\n}", wantErr: "unrecognized block option 'bogus', at Testfile:3"},
		{name: "block duplicate option", input: "test {\n\tblock {\n\t\tone a\n\t\tone b\n\t}\n}", wantErr: "duplicate block option 'one', at Testfile:4"},
		{name: "block check on its line", input: "test {\n\tflag\n\tblock {\n\t\tflag\n\t}\n}", wantErr: "block: one is required, at Testfile:3"},
	} {
		got, err := parse(tc.input)
		switch {
		case tc.wantErr != "":
			if err == nil || err.Error() != tc.wantErr {
				t.Errorf("%s: error = %v, want %q", tc.name, err, tc.wantErr)
			}
		case err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case !reflect.DeepEqual(got, tc.want):
			t.Errorf("%s: got %+v\nwant %+v", tc.name, got, tc.want)
		}
	}
}
