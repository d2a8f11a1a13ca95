package testcaddy

import (
	"strings"
	"text/template"
)

// Caddyfile is the text of a Caddyfile with placeholders, as a test or the
// benchmark writes it: Caddyfile lines, and text/template actions where a
// value goes ({{.Port}}) or a line depends on the case ({{with .Allow}}).
// One function is added to text/template's: {{lines N .X}} writes each
// string of .X (one or more lines of Caddyfile: a subdirective, or a block
// written as a raw string) on lines of its own, indented by N tabs; start the
// action with "{{-" to put them right under the line before.
type Caddyfile struct{ tmpl *template.Template }

// NewCaddyfile parses text; it panics when text is not a valid template, as
// template.Must does.
func NewCaddyfile(text string) Caddyfile {
	return Caddyfile{template.Must(template.New("Caddyfile").Funcs(template.FuncMap{"lines": lines}).Parse(text))}
}

// Render fills in the placeholders with data. It panics when data does not
// fit the template (a field the template names is missing): that is a
// mistake in the test, not an outcome.
func (c Caddyfile) Render(data any) string {
	var b strings.Builder
	if err := c.tmpl.Execute(&b, data); err != nil {
		panic("testcaddy: rendering the Caddyfile: " + err.Error())
	}
	return b.String()
}

// lines writes each line of each entry of list after a newline and depth
// tabs.
func lines(depth int, list []string) string {
	indent := "\n" + strings.Repeat("\t", depth)
	var b strings.Builder
	for _, entry := range list {
		for line := range strings.SplitSeq(entry, "\n") {
			b.WriteString(indent + line)
		}
	}
	return b.String()
}
