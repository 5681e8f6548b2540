package store

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/sovos/sov/model/gguf"
)

// Listed is one installed model as a listing shows it.
type Listed struct {
	Model
	Default bool `json:"default"` // the configured default model
}

// Listing is the installed models, the default marked; as JSON, an array.
type Listing []Listed

// Listing lists the installed models, marking def (the configured default
// model, "" for none).
func (s *Store) Listing(def string) (Listing, error) {
	models, err := s.List()
	l := make(Listing, len(models))
	for i, m := range models {
		l[i] = Listed{m, def != "" && m.Name == def}
	}
	return l, err
}

// String is the listing as a table, one model a line.
func (l Listing) String() string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSIZE\tARCH\tPARAMS\tQUANT\tCONTEXT\tCHAT TEMPLATE")
	for _, m := range l {
		n := m.Name
		if m.Default {
			n += " (default)"
		}
		if m.Missing {
			n += " (file missing)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", n, FormatBytes(m.Size), m.Architecture,
			FormatParams(m.Parameters), m.Quantization, m.ContextLength, yesNo(m.ChatTemplate))
	}
	tw.Flush()
	return b.String()
}

// Summary is what the model is, e.g. "llama, 292.8K parameters, F32,
// 1.1 MiB (/path/to/it.gguf)".
func (m Model) Summary() string {
	return fmt.Sprintf("%s, %s parameters, %s, %s (%s)", m.Architecture, FormatParams(m.Parameters), m.Quantization, FormatBytes(m.Size), m.Path)
}

// Details is an installed model with its GGUF header.
type Details struct {
	Model
	Version  uint32         `json:"gguf_version"`
	Tensors  int            `json:"tensors"`
	Metadata map[string]any `json:"metadata"`
	file     *gguf.File
}

// NewDetails is m with f, the header of its file (see Store.Show).
func NewDetails(m Model, f *gguf.File) Details {
	return Details{Model: m, Version: f.Version, Tensors: len(f.Tensors), Metadata: f.JSONMetadata(), file: f}
}

// String is the model's facts, then every metadata key with a summary of
// its value.
func (d Details) String() string {
	var b strings.Builder
	f := d.file
	fmt.Fprintf(&b, "name           %s\npath           %s\n", d.Name, d.Path)
	if d.Linked {
		fmt.Fprintf(&b, "linked         yes (removing it keeps the file)\n")
	}
	fmt.Fprintf(&b, "source         %s\n", d.Source)
	fmt.Fprintf(&b, "size           %s (%d bytes)\n", FormatBytes(d.Size), d.Size)
	if d.SHA256 != "" {
		fmt.Fprintf(&b, "sha256         %s\n", d.SHA256)
	}
	fmt.Fprintf(&b, "architecture   %s\n", f.Architecture())
	fmt.Fprintf(&b, "parameters     %s (%d)\n", FormatParams(f.ParameterCount()), f.ParameterCount())
	fmt.Fprintf(&b, "quantisation   %s\n", f.Quantization())
	fmt.Fprintf(&b, "context        %d\n", f.ContextLength())
	fmt.Fprintf(&b, "embedding      %d\n", f.EmbeddingLength())
	fmt.Fprintf(&b, "chat template  %s\n", yesNo(f.HasChatTemplate()))
	fmt.Fprintf(&b, "gguf           version %d, %d tensors, %d metadata keys\n\nmetadata:\n", f.Version, len(f.Tensors), len(f.KV))
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	for _, kv := range f.KV {
		fmt.Fprintf(tw, "  %s\t%s\n", kv.Key, kv.Summary())
	}
	tw.Flush()
	return b.String()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
