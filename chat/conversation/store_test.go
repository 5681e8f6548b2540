package conversation

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestTUISessionRoundTrip(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.Create("stories", "be brief")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(m.ID, Message{Role: "user", Content: "Tell me a story\nplease"}); err != nil {
		t.Fatal(err)
	}
	seq, err := s.Append(m.ID, Message{Role: "assistant", Content: "Once"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(m.ID, seq, Message{Role: "assistant", Content: "Once upon a time", Complete: true}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = Open(dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	last, err := s.Last()
	if err != nil || last != m.ID {
		t.Fatalf("Last = %q, %v; want %q", last, err, m.ID)
	}
	meta, msgs, err := s.Load(last)
	if err != nil {
		t.Fatal(err)
	}
	if meta.Title != "Tell me a story" || meta.Count != 2 || meta.System != "be brief" {
		t.Errorf("meta = %+v", meta)
	}
	if len(msgs) != 2 || msgs[1].Content != "Once upon a time" || !msgs[1].Complete {
		t.Errorf("msgs = %+v", msgs)
	}
	if id, err := s.Resolve(m.ID[:len(m.ID)-1]); err != nil || id != m.ID {
		t.Errorf("Resolve prefix = %q, %v", id, err)
	}
	if _, err := s.Resolve("zzzz"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Resolve unknown: %v", err)
	}
	if _, err := s.Update(m.ID, func(mm *Meta) { mm.Title = "Renamed" }); err != nil {
		t.Fatal(err)
	}
	list, err := s.List()
	if err != nil || len(list) != 1 || list[0].Title != "Renamed" {
		t.Fatalf("List = %+v, %v", list, err)
	}
	if err := s.Delete(m.ID); err != nil {
		t.Fatal(err)
	}
	if last, _ := s.Last(); last != "" {
		t.Errorf("Last after delete = %q", last)
	}
}

func TestTUISessionLockedNamesOwner(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	start := time.Now()
	_, err = Open(dir, 200*time.Millisecond)
	var le *LockedError
	if !errors.As(err, &le) {
		t.Fatalf("second Open: %v, want *LockedError", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatalf("second Open hung")
	}
	if !strings.Contains(err.Error(), "pid") {
		t.Errorf("error does not name the other process: %v", err)
	}
}

func TestTUISessionTitleFrom(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "New chat"},
		{"  hello   world \nsecond", "hello world"},
		{strings.Repeat("a", 60), strings.Repeat("a", 47) + "…"},
	}
	for _, tt := range tests {
		if got := TitleFrom(tt.in); got != tt.want {
			t.Errorf("TitleFrom(%q) = %q want %q", tt.in, got, tt.want)
		}
	}
}

func TestTUISessionMessageCodec(t *testing.T) {
	in := Message{Role: "assistant", Content: "héllo\n\x00bin", Stopped: true, Complete: true, Err: "e", Model: "m", TPS: 12.5, Time: time.UnixMilli(1700000000123).UTC()}
	out, err := decodeMessage(encodeMessage(in))
	if err != nil || out != in {
		t.Fatalf("round trip: %+v, %v", out, err)
	}
	for _, bad := range [][]byte{nil, {9, 0}, {1, 0, 200}, encodeMessage(in)[:10]} {
		if _, err := decodeMessage(bad); err == nil {
			t.Errorf("decode %v: no error", bad)
		}
	}
}

// TestPick: an ID or prefix wins over last; last is the most recent
// session, or none yet; neither asked is a new session.
func TestPick(t *testing.T) {
	s, err := Open(t.TempDir(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if id, err := s.Pick("", true); err != nil || id != "" {
		t.Errorf("last of none = %q, %v", id, err)
	}
	a, _ := s.Create("m", "")
	b, _ := s.Create("m", "")
	s.Append(b.ID, Message{Role: "user", Content: "hi"})
	tests := []struct {
		id   string
		last bool
		want string
		err  error
	}{
		{"", false, "", nil},
		{"", true, b.ID, nil},
		{a.ID, true, a.ID, nil},
		{a.ID[:len(a.ID)-1] + "!", false, "", ErrNotFound},
	}
	for _, tt := range tests {
		if id, err := s.Pick(tt.id, tt.last); id != tt.want || !errors.Is(err, tt.err) {
			t.Errorf("Pick(%q, %v) = %q, %v; want %q, %v", tt.id, tt.last, id, err, tt.want, tt.err)
		}
	}
}
