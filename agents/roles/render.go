package roles

import (
	"fmt"
	"strings"
)

// The markdown artifacts are rendered from the forced JSON, never written
// by the model as free text, so their shape holds on any model.

func (p *PRD) markdown(request string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\n", p.Title)
	fmt.Fprintf(&b, "Request: %s\n\n", oneLine(request))
	if s := strings.TrimSpace(p.Summary); s != "" {
		fmt.Fprintf(&b, "%s\n\n", s)
	}
	b.WriteString("## User stories\n\n")
	for _, s := range p.Stories {
		fmt.Fprintf(&b, "- As %s, I want %s, so that %s.\n", orDash(s.As), orDash(s.Want), orDash(s.So))
	}
	b.WriteString("\n## Acceptance tests\n\nThe cases are in acceptance.json; the tester runs each of them.\n\n")
	for _, c := range p.Acceptance {
		fmt.Fprintf(&b, "- %s: `%s(%s)` returns `%s`\n", c.Name, c.Function, c.Args, c.Expect)
	}
	if t := strings.TrimSpace(p.Tradeoffs); t != "" {
		fmt.Fprintf(&b, "\n## Trade-offs\n\n%s\n", t)
	}
	if p.Question != "" {
		fmt.Fprintf(&b, "\n## Open question\n\n%s\n", p.Question)
	}
	return b.String()
}

func (d *Design) markdown(lang Lang) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Design (%s)\n\n", lang)
	if s := strings.TrimSpace(d.Overview); s != "" {
		fmt.Fprintf(&b, "%s\n\n", s)
	}
	b.WriteString("## Tasks, in build order\n\nThe same list is in tasks.json.\n\n")
	for _, t := range d.Tasks {
		fmt.Fprintf(&b, "%d. `%s` in %s: `%s`", t.ID, t.Function, t.File, t.Signature)
		if t.Description != "" {
			fmt.Fprintf(&b, " — %s", oneLine(t.Description))
		}
		b.WriteString("\n")
	}
	return b.String()
}

func orDash(s string) string {
	if s = strings.TrimSpace(s); s == "" {
		return "—"
	}
	return s
}
