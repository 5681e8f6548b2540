package vault

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestVaultAddReport(t *testing.T) {
	rep := AddReport{Added: 2, Unchanged: 5, Removed: 1, Chunks: 12, Bytes: 300_000,
		Skipped: []Skipped{{Path: "photo.jpg", Reason: "binary"}},
		Failed:  []Skipped{{Path: "evil\x1b[2J.md", Reason: "changed while being read"}}}
	if got, want := rep.Summary(), "added 2, updated 0, unchanged 5, removed 1, skipped 1 (12 chunks, 0.3 MB of text)"; got != want {
		t.Fatalf("summary %q, want %q", got, want)
	}
	var out, errs bytes.Buffer
	rep.Write(&out, &errs)
	if !strings.Contains(out.String(), "  skipped photo.jpg: binary\n") || errs.String() != "  failed evil.md: changed while being read\n" {
		t.Fatalf("write:\n%q\n%q", out.String(), errs.String())
	}
	var fe *FailedError
	if err := rep.Err(); !errors.As(err, &fe) || fe.Files != 1 {
		t.Fatalf("Err: %v", err)
	}
	if err := (AddReport{Skipped: rep.Skipped}).Err(); err != nil {
		t.Fatalf("skipped files are not failures: %v", err)
	}
}

func TestVaultProgressBar(t *testing.T) {
	for _, tt := range []struct {
		p    Progress
		want string
	}{
		{Progress{}, "[" + strings.Repeat(" ", 30) + "] 0/0 files  0.0 MB"},
		{Progress{Done: 1, Total: 2, Bytes: 1_500_000}, "[" + strings.Repeat("=", 15) + strings.Repeat(" ", 15) + "] 1/2 files  1.5 MB"},
		{Progress{Done: 3, Total: 3}, "[" + strings.Repeat("=", 30) + "] 3/3 files  0.0 MB"},
	} {
		if got := tt.p.String(); got != tt.want {
			t.Errorf("%+v: %q, want %q", tt.p, got, tt.want)
		}
	}
}

func TestVaultPassage(t *testing.T) {
	text := strings.Repeat("filler words here ", 30) + "the sourdough\tbakes \x1b[31mslowly\n\nat night " + strings.Repeat("more text ", 30)
	i := strings.Index(text, "sourdough")
	r := Result{Text: text, Highlights: [][2]int{{i, i + len("sourdough")}}}
	got := r.Passage(120, "**", "**")
	if !strings.HasPrefix(got, "…") || !strings.HasSuffix(got, "…") || !strings.Contains(got, "the **sourdough** bakes slowly at night") {
		t.Fatalf("passage %q", got)
	}
	if strings.ContainsAny(got, "\x1b\t\n") || len(got) > 120+2*len("…")+4 {
		t.Fatalf("passage not one clean line of the size asked: %q", got)
	}
	short := Result{Text: "héllo wörld", Highlights: [][2]int{{0, 6}}}
	if got := short.Passage(320, "<", ">"); got != "<héllo> wörld" {
		t.Fatalf("short passage %q", got)
	}
}

func TestVaultResponseWrite(t *testing.T) {
	resp := &Response{Mode: ModeLexical, Results: []Result{
		{Chunk: 7, Source: "/notes/a.md", Heading: "Kitchen", Start: 5, End: 7, Score: 1.25, Text: "bake sourdough", Highlights: [][2]int{{5, 14}}},
	}}
	var out, note bytes.Buffer
	resp.Write(&out, "**", "**")
	want := LexicalNote + "\n1. /notes/a.md:5-7  § Kitchen  (score 1.250)\n   bake **sourdough**\n"
	if out.String() != want {
		t.Fatalf("text:\n%q\nwant\n%q", out.String(), want)
	}
	out.Reset()
	if err := resp.WriteJSON(&out, &note); err != nil {
		t.Fatal(err)
	}
	var hit map[string]any
	if err := json.Unmarshal(out.Bytes(), &hit); err != nil || hit["source"] != "/notes/a.md" || hit["chunk"] != 7.0 ||
		hit["lines"].([]any)[1] != 7.0 || hit["highlights"] != nil {
		t.Fatalf("JSON line %s: %v", out.String(), err)
	}
	if note.String() != LexicalNote+"\n" {
		t.Fatalf("note %q", note.String())
	}
	out.Reset()
	(&Response{Mode: ModeHybrid}).Write(&out, "", "")
	if out.String() != "no matches\n" {
		t.Fatalf("no results: %q", out.String())
	}
}

func TestVaultAnswerAndListings(t *testing.T) {
	var out bytes.Buffer
	(&Answer{Text: NotInVault, NotFound: true}).Write(&out)
	(&Answer{Text: "x [2]", Sources: []Result{{Source: "/a.md", Start: 1, End: 3}}, Cited: []int{2}}).Write(&out)
	if want := NotInVault + "\nx [2]\n\nSources:\n[2] /a.md:1-3\n"; out.String() != want {
		t.Fatalf("answer:\n%q\nwant\n%q", out.String(), want)
	}
	out.Reset()
	size := func(n int64) string { return strings.Repeat("#", int(n)) }
	RenderDocs(&out, []Doc{{Path: "/a\x1b.md", Kind: "markdown", Size: 3, Chunks: 2}}, size)
	if want := "markdown      2 chunks        ###  /a.md\n"; out.String() != want {
		t.Fatalf("docs %q, want %q", out.String(), want)
	}
	out.Reset()
	(&Stats{Path: "/v.db", FileBytes: 1, Collections: []string{"default", "work"}, Collection: "work", Docs: 3, Vectors: true,
		KDFTime: 3, KDFMemKiB: 64 << 10, KDFThreads: 4}).Render(&out, size)
	for _, want := range []string{"vault       /v.db (#)", "collections default, work", "work: 3 documents", "lexical + vectors", "Argon2id t=3 m=64 MiB p=4"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("stats lack %q:\n%s", want, out.String())
		}
	}
}

func TestVaultProgressBarEndsItsLine(t *testing.T) {
	var b strings.Builder
	bar := ProgressBar(&b)
	bar(Progress{Done: 1, Total: 2})
	bar(Progress{Done: 2, Total: 2, Bytes: 2e6})
	if !strings.HasPrefix(b.String(), "\r[===============               ] 1/2 files") || !strings.HasSuffix(b.String(), "\r["+strings.Repeat("=", 30)+"] 2/2 files  2.0 MB\n") {
		t.Fatalf("%q", b.String())
	}
}
