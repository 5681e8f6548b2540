package digest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sovos/sov/feeds"
	"github.com/sovos/sov/internal/testtool"
	"github.com/sovos/sov/model"
)

var now = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

func window() []feeds.Item {
	mk := func(id, pub, title string, topics ...string) feeds.Item {
		return feeds.Item{ID: id + strings.Repeat("0", 64-len(id)), Publisher: pub, Title: title, Summary: "about " + title,
			Topics: topics, Created: now.Add(-time.Hour), Verified: true}
	}
	return []feeds.Item{
		mk("aaaa1111", "Alice", "Tides rise", "science"),
		mk("bbbb2222", "Bob", "Tides fall", "science"),
		mk("cccc3333", "Carol", "Match won", "sport"),
		mk("dddd4444", "Dan", "Stocks up", "finance"),
	}
}

// fakeGen returns a fixed reply, as a model constrained by the schema
// would, plus things the schema would forbid, to exercise the Go checks.
type fakeGen struct{ out string }

func (f fakeGen) JSON(ctx context.Context, msgs []model.Message, s *model.Schema, _ model.Sampling, _ model.TokenFunc) ([]byte, model.Stats, error) {
	if !strings.Contains(msgs[1].Content, "<item ref=\"aaaa1111\"") {
		return nil, model.Stats{}, fmt.Errorf("prompt lacks the item refs")
	}
	return []byte(f.out), model.Stats{}, nil
}

func TestDigestCitationsChecked(t *testing.T) {
	items, blocked := Select(window(), Options{Blocked: []string{"finance"}, Interests: map[string]float64{"sport": 5}, Now: now})
	if blocked != 1 || len(items) != 3 || items[0].Publisher != "Carol" {
		t.Fatalf("select: %d blocked, %+v", blocked, items)
	}
	out := `{"stories":[
	 {"headline":"Tides","summary":"Two views on tides.","citations":["aaaa1111","bbbb2222","ffff9999"],
	  "viewpoints":[{"ref":"aaaa1111","view":"rising"},{"ref":"bbbb2222","view":"falling"}]},
	 {"headline":"Ghost","summary":"Cites nothing real.","citations":["dddd4444"],"viewpoints":[]},
	 {"headline":"Match","summary":"A win.","citations":["cccc3333"],"viewpoints":[{"ref":"cccc3333","view":"great"}]}]}`
	d, err := Build(context.Background(), fakeGen{out}, items, Options{Interests: map[string]float64{"sport": 5}})
	if err != nil {
		t.Fatal(err)
	}
	// ffff9999 is outside the window; dddd4444 was blocked, so also outside.
	if d.DroppedCitations != 2 || d.DroppedStories != 1 || len(d.Stories) != 2 {
		t.Fatalf("digest %+v", d)
	}
	if d.Stories[0].Headline != "Match" || len(d.Stories[0].Viewpoints) != 0 {
		t.Fatalf("ranking/viewpoints: %+v", d.Stories[0])
	}
	if vp := d.Stories[1].Viewpoints; len(vp) != 2 || vp[0].Publisher != "Alice" || vp[1].Publisher != "Bob" {
		t.Fatalf("viewpoints %+v", vp)
	}
	var buf bytes.Buffer
	d.Render(&buf)
	if !strings.Contains(buf.String(), "[Alice, 2026-11-21, aaaa1111]") || !strings.Contains(buf.String(), "2 citations to items outside the window dropped") {
		t.Fatalf("render:\n%s", buf.String())
	}
	if _, err := Build(context.Background(), fakeGen{"not json"}, items, Options{}); err == nil {
		t.Fatal("bad model output accepted")
	}
}

// failGen stands for a model that must not be loaded.
type failGen struct{ t *testing.T }

func (f failGen) JSON(context.Context, []model.Message, *model.Schema, model.Sampling, model.TokenFunc) ([]byte, model.Stats, error) {
	f.t.Fatal("the model was asked for an empty window")
	return nil, model.Stats{}, nil
}

func TestDigestRun(t *testing.T) {
	var asked feeds.ListOptions
	list := func(o feeds.ListOptions) ([]feeds.Item, error) { asked = o; return window(), nil }
	opt := Options{Since: 24 * time.Hour, Unverified: true, Blocked: []string{"finance"}, Now: now}
	d, err := Run(context.Background(), list, fakeGen{`{"stories":[{"headline":"Tides \u001b[2Jrise","summary":"s","citations":["aaaa1111"],"viewpoints":[]}]}`}, opt)
	if err != nil {
		t.Fatal(err)
	}
	if !asked.Since.Equal(now.Add(-24*time.Hour)) || !asked.Unverified || !asked.Content {
		t.Fatalf("listed with %+v", asked)
	}
	if d.Items != 3 || d.Blocked != 1 || len(d.Stories) != 1 {
		t.Fatalf("digest %+v", d)
	}
	var buf bytes.Buffer
	d.Render(&buf)
	if strings.Contains(buf.String(), "\x1b") || !strings.Contains(buf.String(), "Tides rise") {
		t.Fatalf("render is not terminal-safe:\n%q", buf.String())
	}
	// Everything blocked: no model call, the blocked items still counted.
	opt.Blocked = []string{"science", "sport", "finance"}
	d, err = Run(context.Background(), list, failGen{t}, opt)
	if err != nil || d.Items != 0 || d.Blocked != 4 {
		t.Fatalf("empty window: %+v %v", d, err)
	}
	bad := errors.New("database locked")
	if _, err := Run(context.Background(), func(feeds.ListOptions) ([]feeds.Item, error) { return nil, bad }, failGen{t}, opt); !errors.Is(err, bad) {
		t.Fatalf("list error: %v", err)
	}
}

func TestDigestSchemaCompiles(t *testing.T) {
	if _, err := model.CompileSchema(Schema([]string{"aaaa1111", "bbbb2222"}, 2)); err != nil {
		t.Fatal(err)
	}
}

// TestDigestRealModel runs the digest on stories260K: whatever it writes,
// the structure parses and every citation resolves to a window item.
func TestDigestRealModel(t *testing.T) {
	abs := testtool.Model(t, testtool.Stories)
	eng, err := model.Load(context.Background(), model.Options{Path: abs, Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	items, _ := Select(window(), Options{Now: now})
	d, err := Build(context.Background(), eng, items, Options{MaxStories: 1})
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, it := range items {
		ids[it.ID] = true
	}
	if len(d.Stories) == 0 {
		t.Fatal("no stories")
	}
	for _, st := range d.Stories {
		for _, c := range st.Citations {
			if !ids[c.ID] {
				t.Fatalf("citation %s not in the window", c.ID)
			}
		}
	}
	var buf bytes.Buffer
	d.Render(&buf)
	t.Logf("digest:\n%s", buf.String())
}

// Any engine seam (an *Engine, a *Session) can run the digest.
var _ Generator = model.LLM(nil)
