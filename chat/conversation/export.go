package conversation

import (
	"fmt"
	"strings"

	"github.com/sovos/sov/internal/termtext"
)

// Markdown renders a conversation as a Markdown document: its title, the
// model and system prompt, then each user and assistant message (a stopped
// answer marked so). Model output is stored as the model wrote it; the
// export is cleaned of control characters because it is read, often with
// cat, on a terminal.
func Markdown(meta Meta, modelName string, msgs []Message) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\n", termtext.Clean(meta.Title))
	if modelName != "" {
		fmt.Fprintf(&b, "Model: %s\n\n", termtext.Clean(modelName))
	}
	if meta.System != "" {
		fmt.Fprintf(&b, "System: %s\n\n", termtext.Clean(meta.System))
	}
	for _, m := range msgs {
		switch m.Role {
		case "user":
			fmt.Fprintf(&b, "## You\n\n%s\n\n", termtext.Clean(m.Content))
		case "assistant":
			fmt.Fprintf(&b, "## Assistant\n\n%s\n\n", termtext.Clean(m.Content))
			if m.Stopped {
				b.WriteString("*(stopped)*\n\n")
			}
		}
	}
	return b.String()
}

// ExportName is the default file name of an export: sov-TITLE-ID.md with
// the title cut to a slug of at most 32 characters.
func ExportName(title, id string) string {
	return fmt.Sprintf("sov-%s-%s.md", slug(title), id)
}

func slug(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
		if b.Len() >= 32 {
			break
		}
	}
	out := strings.Trim(b.String(), "-")
	if out == "" {
		return "chat"
	}
	return out
}
