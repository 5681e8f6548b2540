package assets

import (
	"embed"
	"fmt"
	"strings"
)

// The role agents' prompts (roles/NAME.md) live apart from prompts/ so
// that each role's prompt can be a template its package fills in.
//
//go:embed roles
var roleFiles embed.FS

// Role returns the role prompt roles/NAME.md (e.g. "developer") without
// its final newline. Like Prompt, a missing name panics.
func Role(name string) string {
	b, err := roleFiles.ReadFile("roles/" + name + ".md")
	if err != nil {
		panic(fmt.Sprintf("assets: no role prompt %q", name))
	}
	return strings.TrimSuffix(string(b), "\n")
}
