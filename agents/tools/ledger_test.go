package tools

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sovos/sov/internal/ledger"
)

// TestLedgerNote: a note is an entry under the agent's name holding the
// note's hash and topic, never its words.
func TestLedgerNote(t *testing.T) {
	dir := t.TempDir()
	lg := ledger.Open(dir)
	env := &Env{Agent: "digest", Ledger: lg}
	ctx := context.Background()
	text := "Summarised the tent passage from the work collection"
	r, err := LedgerNote{}.Run(ctx, env, args(t, map[string]any{"text": text, "topic": "summary"}))
	if err != nil || r.Source != "ledger" {
		t.Fatalf("%+v %v", r, err)
	}
	es, err := lg.Entries()
	if err != nil || len(es) != 1 {
		t.Fatalf("entries %v %v", es, err)
	}
	e := es[0]
	if want := fmt.Sprintf("noted as ledger entry %d (%s)", e.Seq, e.Hash[:12]); r.Text != want {
		t.Fatalf("result %q, want %q", r.Text, want)
	}
	if e.Kind != ledger.KindNote || e.Principal != "agent:digest" || e.Subjects["note"] != ledger.SHA256([]byte(text)) ||
		e.Fields["topic"] != "summary" || e.Fields["agent"] != "digest" {
		t.Fatalf("entry %+v", e)
	}
	raw, _ := os.ReadFile(filepath.Join(dir, "entries.jsonl"))
	if strings.Contains(string(raw), "tent passage") {
		t.Fatal("the ledger holds the note's words")
	}

	for _, tc := range []struct {
		name string
		env  *Env
		args string
		want error
	}{
		{"empty text", env, `{"text":" "}`, ErrBadArguments},
		{"topic with words", env, `{"text":"x","topic":"the mnemonic is abandon"}`, ErrBadArguments},
		{"topic too long", env, `{"text":"x","topic":"` + strings.Repeat("a", maxTopic+1) + `"}`, ErrBadArguments},
		{"too long", env, `{"text":"` + strings.Repeat("a", maxNote+1) + `"}`, ErrBadArguments},
		{"no ledger", &Env{Agent: "digest"}, `{"text":"x"}`, ErrUnavailable},
	} {
		if _, err := (LedgerNote{}).Run(ctx, tc.env, json.RawMessage(tc.args)); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if es, _ := lg.Entries(); len(es) != 1 {
		t.Fatalf("a refused note was recorded: %d entries", len(es))
	}
}
