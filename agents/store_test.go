package agents

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestStore(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "agents")
	s := &Store{Dir: dir, Tools: specLookup}

	// A missing folder is no agents.
	if es, err := s.List(); err != nil || len(es) != 0 {
		t.Fatalf("List of a missing folder = %v, %v", es, err)
	}
	p, err := s.New("notes")
	if err != nil {
		t.Fatal(err)
	}
	if p != filepath.Join(dir, "notes.toml") {
		t.Errorf("New wrote %s", p)
	}
	if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("new file: %v %v", fi, err)
	}
	if _, err := s.New("notes"); !errors.Is(err, ErrExists) {
		t.Errorf("New over an existing agent: %v", err)
	}
	if _, err := s.New("Bad Name"); !errors.Is(err, ErrBadName) {
		t.Errorf("New with a bad name: %v", err)
	}
	a, err := s.Get("notes")
	if err != nil || a.Name != "notes" {
		t.Fatalf("Get = %+v, %v", a, err)
	}
	if _, err := s.Get("absent"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get absent: %v", err)
	}
	if _, err := s.Get("../notes"); !errors.Is(err, ErrBadName) {
		t.Errorf("Get ../notes: %v", err)
	}

	// A broken file is listed with its error; the others still load;
	// temporaries, other files and folders are not agents.
	write := func(name, text string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("broken.toml", "model = \"x\"\nmodle = \"y\"\n")
	write(".notes.toml.123", "junk")
	write("readme.txt", "junk")
	write("notes.md", "prompt from the file\n")
	if err := os.Mkdir(filepath.Join(dir, "notes"), 0o700); err != nil { // a workspace, say
		t.Fatal(err)
	}
	es, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 2 || es[0].Name != "broken" || es[1].Name != "notes" {
		t.Fatalf("List = %+v", es)
	}
	var fe *FileError
	if es[0].Agent != nil || !errors.As(es[0].Err, &fe) || fe.Line != 2 || fe.Field != "modle" {
		t.Errorf("broken entry: %+v", es[0])
	}
	if es[1].Err != nil || es[1].Agent.Prompt != "prompt from the file\n" {
		t.Errorf("notes entry: %+v", es[1])
	}

	if err := s.Remove("notes"); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"notes.toml", "notes.md"} {
		if _, err := os.Stat(filepath.Join(dir, f)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left after Remove: %v", f, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "notes")); err != nil {
		t.Errorf("Remove took the workspace folder: %v", err)
	}
	if err := s.Remove("notes"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Remove twice: %v", err)
	}
}

func TestSetDisabled(t *testing.T) {
	for _, tc := range []struct {
		name, before string
		disabled     bool
		after        string
	}{
		{"replace", "model = \"x\"\ndisabled = false # keep me?\n\n[budget]\nsteps = 3\n", true,
			"model = \"x\"\ndisabled = true # keep me?\n\n[budget]\nsteps = 3\n"},
		{"insert before tables", "# mine\nmodel = \"x\"\n\n[budget]\nsteps = 3\n", true,
			"# mine\nmodel = \"x\"\n\ndisabled = true\n[budget]\nsteps = 3\n"},
		{"insert before array tables", "[[tools]]\nname = \"vault.get\"\n", true,
			"disabled = true\n[[tools]]\nname = \"vault.get\"\n"},
		{"append without newline", "model = \"x\"", false,
			"model = \"x\"\ndisabled = false\n"},
		{"not fooled by the prompt", "prompt = \"\"\"\ndisabled = false\n\"\"\"\n[budget]\nsteps = 1\n", true,
			"prompt = \"\"\"\ndisabled = false\n\"\"\"\ndisabled = true\n[budget]\nsteps = 1\n"},
		{"not fooled by a table's key", "[taint]\nverdict = \"deny\"\n", true,
			"disabled = true\n[taint]\nverdict = \"deny\"\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &Store{Dir: t.TempDir(), Tools: specLookup}
			p := filepath.Join(s.Dir, "a.toml")
			if err := os.WriteFile(p, []byte(tc.before), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := s.SetDisabled("a", tc.disabled); err != nil {
				t.Fatal(err)
			}
			got, _ := os.ReadFile(p)
			if string(got) != tc.after {
				t.Errorf("file:\n%s\nwant:\n%s", got, tc.after)
			}
			a, err := s.Get("a")
			if err != nil || a.Disabled != tc.disabled {
				t.Errorf("after SetDisabled: %+v, %v", a, err)
			}
		})
	}

	s := &Store{Dir: t.TempDir()}
	if err := s.SetDisabled("absent", true); !errors.Is(err, ErrNotFound) {
		t.Errorf("SetDisabled absent: %v", err)
	}
	// A broken file is refused and left as it was.
	p := filepath.Join(s.Dir, "broken.toml")
	broken := "model = \"x\"\nschedule = \"nope\"\n"
	if err := os.WriteFile(p, []byte(broken), 0o600); err != nil {
		t.Fatal(err)
	}
	var fe *FileError
	if err := s.SetDisabled("broken", true); !errors.As(err, &fe) || fe.Field != "schedule" {
		t.Errorf("SetDisabled on a broken file: %v", err)
	}
	if got, _ := os.ReadFile(p); string(got) != broken {
		t.Errorf("broken file changed: %q", got)
	}
	// The template round-trips.
	if _, err := s.New("tpl"); err != nil {
		t.Fatal(err)
	}
	for _, d := range []bool{true, false, true} {
		if err := s.SetDisabled("tpl", d); err != nil {
			t.Fatal(err)
		}
		if a, err := s.Get("tpl"); err != nil || a.Disabled != d {
			t.Fatalf("template after SetDisabled(%v): %+v %v", d, a, err)
		}
	}
	got, _ := os.ReadFile(filepath.Join(s.Dir, "tpl.toml"))
	if strings.Count(string(got), "disabled =") != 1 || !strings.Contains(string(got), "# A disabled agent") {
		t.Errorf("template after SetDisabled lost its layout:\n%s", got)
	}
}
