package feeds

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sovos/sov/feeds/nostr"
	"github.com/sovos/sov/internal/termtext"
)

// The Render functions print plain-text views. Names, titles and bodies
// come from feeds, so they are cleaned of control characters: the output
// is safe on a terminal.

// KindName names an item's kind for listings: article, note, feed (RSS,
// Atom or JSON Feed), or the event kind's number.
func KindName(kind int) string {
	switch kind {
	case nostr.KindArticle:
		return "article"
	case nostr.KindShortNote:
		return "note"
	case -1:
		return "feed"
	}
	return fmt.Sprint(kind)
}

// Display is the key as people exchange it: npub1… for Nostr keys, the
// minisign key as it is.
func (k TrustedKey) Display() string {
	if k.Type == "nostr" {
		return nostr.Npub(k.Key)
	}
	return k.Key
}

// MarshalJSON writes a sync result as {source, type, counts, error}.
func (r SyncResult) MarshalJSON() ([]byte, error) {
	row := struct {
		Source string `json:"source"`
		Type   string `json:"type"`
		Counts Counts `json:"counts"`
		Error  string `json:"error,omitempty"`
	}{Source: r.Source.URL, Type: r.Source.Type, Counts: r.Counts}
	if r.Err != nil {
		row.Error = r.Err.Error()
	}
	return json.Marshal(row)
}

// SyncFailedError says how many sources of a sync failed. Items a failed
// source sent before failing were verified and kept.
type SyncFailedError struct{ Failed, Total int }

func (e *SyncFailedError) Error() string {
	return fmt.Sprintf("%d of %d sources failed (items they sent before failing were verified and kept)", e.Failed, e.Total)
}

// RejectedError says a sync or import rejected N items; what verified was
// kept, and the counts carry the reasons.
type RejectedError struct{ N int }

func (e *RejectedError) Error() string {
	return fmt.Sprintf("%d item(s) rejected (reasons above); the rest were verified and kept", e.N)
}

// Err is a *RejectedError when c counts rejected items, else nil.
func (c Counts) Err() error {
	if n := c.RejectedTotal(); n > 0 {
		return &RejectedError{N: n}
	}
	return nil
}

// SyncErr is a *SyncFailedError when some source of res failed, else a
// *RejectedError when some source sent rejected items, else nil.
func SyncErr(res []SyncResult) error {
	failed := 0
	var total Counts
	for _, r := range res {
		if r.Err != nil {
			failed++
		}
		total.Add(r.Counts)
	}
	if failed == 0 {
		return total.Err()
	}
	return &SyncFailedError{Failed: failed, Total: len(res)}
}

// RenderItems prints items as a table, one line each, unverified ones
// labelled.
func RenderItems(w io.Writer, items []Item) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tPUBLISHER\tKIND\tTITLE\tCREATED\tCID\tVERIFIED")
	for _, it := range items {
		v := "yes"
		if !it.Verified {
			v = "UNVERIFIED"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", it.ID[:min(12, len(it.ID))], clipLine(it.PublisherLabel(), 40), KindName(it.Kind),
			clipLine(it.Title, 40), it.Created.Format("2006-01-02 15:04"), it.CID, v)
	}
	return tw.Flush()
}

// Render prints one item: its header lines, then its text.
func (it Item) Render(w io.Writer) {
	v := "verified (signature checked, key trusted)"
	if !it.Verified {
		v = "UNVERIFIED"
	}
	// The header's fields are one line each, so a title or topic carrying a
	// newline cannot forge a header line ("by … · verified") of its own.
	one := func(s string) string { return strings.ReplaceAll(termtext.Clean(s), "\n", " ") }
	var b strings.Builder
	fmt.Fprintf(&b, "%s\nby %s · %s · %s · %s\nid:  %s\ncid: %s\n", one(it.Title), one(it.PublisherLabel()), KindName(it.Kind),
		it.Created.Format(time.RFC3339), v, one(it.ID), one(it.CID))
	if it.BodyCID != "" {
		fmt.Fprintf(&b, "body cid: %s\n", it.BodyCID)
	}
	if it.PubKey != "" {
		fmt.Fprintf(&b, "key: %s\n", nostr.Npub(it.PubKey))
	}
	if it.URL != "" {
		fmt.Fprintf(&b, "url: %s\n", one(it.URL))
	}
	if len(it.Topics) > 0 {
		fmt.Fprintf(&b, "topics: %s\n", one(strings.Join(it.Topics, ", ")))
	}
	fmt.Fprintf(&b, "\n%s\n", it.Content)
	io.WriteString(w, termtext.Clean(b.String()))
}

// RenderKeys prints the trust store as a table.
func RenderKeys(w io.Writer, keys []TrustedKey) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tKEY\tTOPICS\tNIP-05 (hint)")
	for _, k := range keys {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", clipLine(k.Name, 40), k.Display(), clipLine(strings.Join(k.Topics, ","), 60), clipLine(k.NIP05, 60))
	}
	return tw.Flush()
}

// RenderSync prints each source's counts (see RenderCounts); a source's
// own error is the caller's to report.
func RenderSync(w io.Writer, res []SyncResult) {
	for _, r := range res {
		RenderCounts(w, r.Source.URL, r.Counts)
	}
}

// RenderCounts prints what one source yielded and the first reasons for
// its rejections.
func RenderCounts(w io.Writer, source string, c Counts) {
	fmt.Fprintf(w, "%s: %s\n", termtext.Clean(source), c)
	for _, e := range c.Errors {
		fmt.Fprintf(w, "  %s\n", termtext.Clean(e))
	}
}

// clipLine is s on one line (control characters dropped, tabs as
// spaces) cut to n characters.
func clipLine(s string, n int) string {
	r := []rune(strings.ReplaceAll(termtext.Clean(s), "\n", " "))
	if len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return string(r)
}

// RenderSources prints one line per source: its type and URL.
func RenderSources(w io.Writer, srcs []Source) {
	for _, src := range srcs {
		fmt.Fprintf(w, "%-6s %s\n", src.Type, termtext.Clean(src.URL))
	}
}

// Write prints what a publish did: the event's id and CID when it was
// signed, then each target it reached.
func (r PublishReport) Write(w io.Writer) {
	if r.Event != nil {
		cid, _ := EventCID(r.Event.ID)
		fmt.Fprintf(w, "published %s\ncid: %s\n", r.Event.ID, cid)
	}
	for _, t := range r.Targets {
		fmt.Fprintf(w, "sent to %s\n", termtext.Clean(t))
	}
	for _, q := range r.Queued {
		fmt.Fprintf(w, "queued for retry: %s\n", termtext.Clean(q))
	}
}

// ItemEvent is an item with its signed event (nil for RSS/Atom/JSON Feed
// items), as Get returns them; as JSON, {"item": …, "event": …}.
type ItemEvent struct {
	Item  Item         `json:"item"`
	Event *nostr.Event `json:"event,omitempty"`
}
