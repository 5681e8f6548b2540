package generate

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestJoinPrompt(t *testing.T) {
	tests := []struct{ args, piped, want string }{
		{"Summarise", "notes\nmore notes\n", "Summarise\n\nnotes\nmore notes"},
		{"Summarise", "", "Summarise"},
		{"Summarise", "\n \n", "Summarise"},
		{"", "notes\n", "notes"},
	}
	for _, tt := range tests {
		if got := JoinPrompt(tt.args, tt.piped); got != tt.want {
			t.Errorf("JoinPrompt(%q, %q) = %q, want %q", tt.args, tt.piped, got, tt.want)
		}
	}
}

// TestReadPiped: piped text is read; an empty, closed or /dev/null stdin
// gives "" at once; a pipe whose writer stays silent is left after the
// wait instead of blocking.
func TestReadPiped(t *testing.T) {
	pipe := func(t *testing.T, data string, closeW bool) *os.File {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close(); w.Close() })
		if data != "" {
			w.WriteString(data)
		}
		if closeW {
			w.Close()
		}
		return r
	}
	file := filepath.Join(t.TempDir(), "notes.txt")
	os.WriteFile(file, []byte("from a file"), 0o600)
	open := func(t *testing.T, p string) *os.File {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	tests := []struct {
		name  string
		f     func(t *testing.T) *os.File
		want  string
		idle  bool
		quick bool // returns well before the wait
	}{
		{"piped text", func(t *testing.T) *os.File { return pipe(t, "notes", true) }, "notes", false, true},
		{"empty closed pipe", func(t *testing.T) *os.File { return pipe(t, "", true) }, "", false, true},
		{"silent open pipe", func(t *testing.T) *os.File { return pipe(t, "", false) }, "", true, false},
		{"file", func(t *testing.T) *os.File { return open(t, file) }, "from a file", false, true},
		{"/dev/null", func(t *testing.T) *os.File { return open(t, os.DevNull) }, "", false, true},
	}
	const wait = 300 * time.Millisecond
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			got, err := ReadPiped(tt.f(t), wait)
			took := time.Since(start)
			if got != tt.want || errors.Is(err, ErrStdinIdle) != tt.idle || err != nil && !tt.idle {
				t.Fatalf("got %q, %v", got, err)
			}
			if tt.quick && took > wait/2 || !tt.quick && (took < wait || took > 10*wait) {
				t.Fatalf("took %v (wait %v)", took, wait)
			}
		})
	}
	// A writer that starts a little late is still read.
	r, w, _ := os.Pipe()
	defer r.Close()
	go func() {
		time.Sleep(50 * time.Millisecond)
		w.WriteString("late")
		w.Close()
	}()
	if got, err := ReadPiped(r, 2*time.Second); got != "late" || err != nil {
		t.Fatalf("late writer: %q %v", got, err)
	}
}
