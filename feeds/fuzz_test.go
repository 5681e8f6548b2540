package feeds

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/sovos/sov/feeds/nostr"
)

// FuzzImportCAR: arbitrary CAR bytes never panic the importer, and nothing
// that fails verification is ever stored.
func FuzzImportCAR(f *testing.F) {
	s, err := Open(f.TempDir(), Options{Now: func() time.Time { return testNow }, NoSync: true})
	if err != nil {
		f.Fatal(err)
	}
	defer s.Close()
	sk, _ := nostr.SecretKeyFromBytes(bytes.Repeat([]byte{5}, 32))
	if _, err := s.Trust(sk.PublicKey(), "Fuzz", nil); err != nil {
		f.Fatal(err)
	}
	var evs []*nostr.Event
	for i := 0; i < 2; i++ {
		ev := &nostr.Event{CreatedAt: testNow.Unix() - 60, Kind: nostr.KindArticle,
			Tags: [][]string{{"d", fmt.Sprint(i)}, {"title", "t"}}, Content: fmt.Sprint("body ", i)}
		sk.Sign(ev)
		evs = append(evs, ev)
	}
	var buf bytes.Buffer
	if _, _, err := s.ExportCAR(context.Background(), &buf, evs); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add(buf.Bytes()[:len(buf.Bytes())/2])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		s.ImportCAR(context.Background(), "fuzz", bytes.NewReader(data))
		stored, err := s.Events()
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range stored {
			if err := ev.Verify(); err != nil || ev.PubKey != sk.PublicKey() {
				t.Fatalf("stored an event that does not verify: %v", err)
			}
		}
	})
}

// FuzzSplitEvents: the stream splitter never panics or hands out a value
// over the cap, whatever the input.
func FuzzSplitEvents(f *testing.F) {
	f.Add([]byte(`[{"a":"b,]"},{"c":[1,2]}]`))
	f.Add([]byte("{\"a\":1}\n{\"b\n{}"))
	f.Add([]byte(`[1,"x",{]`))
	f.Add([]byte("]}\n,"))
	f.Fuzz(func(t *testing.T, data []byte) {
		splitEvents(bytes.NewReader(data), func(raw []byte, err error) error {
			if len(raw) > nostr.MaxEventSize {
				t.Fatal("value over the cap")
			}
			// JSON whitespace only: a stray \v or U+0085 is a (broken)
			// value for the parser to count, not a separator.
			if err == nil && len(bytes.Trim(raw, " \t\r\n")) == 0 {
				t.Fatal("empty value")
			}
			return nil
		})
	})
}
