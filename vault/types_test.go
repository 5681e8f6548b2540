package vault

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// makePDF writes a minimal one-page PDF with a text layer (Helvetica), the
// way simple PDF writers do, with a correct xref table.
func makePDF(lines []string) []byte {
	var content bytes.Buffer
	content.WriteString("BT /F1 12 Tf 72 720 Td 14 TL\n")
	for _, l := range lines {
		fmt.Fprintf(&content, "(%s) Tj T*\n", strings.NewReplacer(`(`, `\(`, `)`, `\)`, `\`, `\\`).Replace(l))
	}
	content.WriteString("ET\n")
	objs := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
		fmt.Sprintf("<< /Length %d >>\nstream\n%sendstream", content.Len(), content.String()),
		"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
	}
	var b bytes.Buffer
	b.WriteString("%PDF-1.4\n")
	offs := make([]int, len(objs))
	for i, o := range objs {
		offs[i] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(objs)+1)
	for _, o := range offs {
		fmt.Fprintf(&b, "%010d 00000 n \n", o)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(objs)+1, xref)
	return b.Bytes()
}

func TestVaultFileTypes(t *testing.T) {
	v, _ := newVault(t)
	src := t.TempDir()
	files := map[string]string{
		"notes.md":   "# Plans\n\nvisit the zanzibarword museum\n",
		"plain.txt":  "line one\nthe quokkaword lives here\n",
		"page.html":  "<html><head><title>T</title><style>.x{color:red}</style><script>var hiddenscriptword=1</script></head><body><h2>Head</h2><p>some <i>marmotword</i> text</p></body></html>",
		"mail.eml":   "From: Ann <ann@example.org>\r\nTo: bob@example.org\r\nSubject: =?UTF-8?Q?Caf=C3=A9_plans?=\r\nContent-Type: multipart/alternative; boundary=XX\r\n\r\n--XX\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nmeet at the pangolin=\r\nword cafe\r\n--XX\r\nContent-Type: text/html\r\n\r\n<p>html version</p>\r\n--XX--\r\n",
		"box.mbox":   "From ann@example.org Mon Jan  1 00:00:00 2024\nFrom: ann@example.org\nSubject: first\n\nthe axolotlword swims\n\nFrom bob@example.org Mon Jan  1 00:00:00 2024\nFrom: bob@example.org\nSubject: second\nContent-Transfer-Encoding: base64\n\ndGhlIG5hcndoYWx3b3JkIGRpdmVz\n",
		"people.vcf": "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Jane Okapiword\r\nEMAIL;TYPE=work:jane@example.org\r\nTEL:+1 555 0100\r\nNOTE:likes long\r\n  walks\r\nEND:VCARD\r\n",
		"data.json":  `{"animal": "wombatword", "n": 3}`,
		"table.csv":  "name,animal\nx,capybaraword\n",
		"image.png":  "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
		"blob.dat":   "\x00\x01\x02\x03binary",
		"empty.txt":  "",
		"noext":      "the tapirword has no extension\n",
	}
	for name, body := range files {
		writeFile(t, filepath.Join(src, name), body)
	}
	if err := os.WriteFile(filepath.Join(src, "doc.pdf"), makePDF([]string{"Quarterly report", "the ocelotword grew"}), 0o644); err != nil {
		t.Fatal(err)
	}
	rep, err := v.Add(context.Background(), []string{src}, AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Failed) > 0 {
		t.Fatalf("failed: %+v", rep.Failed)
	}
	skipped := map[string]string{}
	for _, s := range rep.Skipped {
		skipped[filepath.Base(s.Path)] = s.Reason
	}
	for _, name := range []string{"image.png", "blob.dat"} {
		if skipped[name] == "" {
			t.Errorf("%s not skipped (skipped: %v)", name, skipped)
		}
	}
	tests := []struct{ query, file, contains string }{
		{"zanzibarword", "notes.md", "visit the zanzibarword museum"},
		{"quokkaword", "plain.txt", "quokkaword lives"},
		{"marmotword", "page.html", "some marmotword text"},
		{"pangolinword", "mail.eml", "meet at the pangolinword cafe"},
		{"café", "mail.eml", "# Café plans"},
		{"axolotlword", "box.mbox", "the axolotlword swims"},
		{"narwhalword", "box.mbox", "the narwhalword dives"},
		{"okapiword", "people.vcf", "Email: jane@example.org"},
		{"walks", "people.vcf", "Note: likes long walks"},
		{"wombatword", "data.json", `"animal": "wombatword"`},
		{"capybaraword", "table.csv", "x,capybaraword"},
		{"ocelotword", "doc.pdf", "ocelotword"},
		{"tapirword", "noext", "tapirword"},
	}
	for _, tt := range tests {
		r := search(t, v, tt.query)
		if len(r.Results) == 0 {
			t.Errorf("%s: no result for %q", tt.file, tt.query)
			continue
		}
		got := r.Results[0]
		if filepath.Base(got.Source) != tt.file || !strings.Contains(got.Text, tt.contains) {
			t.Errorf("%q: got %s %q, want %s containing %q", tt.query, got.Source, got.Text, tt.file, tt.contains)
		}
	}
	for _, q := range []string{"hiddenscriptword", "color", "html version"} {
		if r := search(t, v, q); len(r.Results) > 0 && q != "html version" {
			t.Errorf("%q should not be indexed: %+v", q, r.Results)
		}
	}
}

func TestVaultChunking(t *testing.T) {
	var b strings.Builder
	b.WriteString("# Intro\n\nshort intro\n\n# Long section\n\n")
	for i := 0; i < 40; i++ {
		fmt.Fprintf(&b, "paragraph %d has some words to fill the chunk up nicely and more words\n\n", i)
	}
	b.WriteString("## Tail\n\nthe end\n")
	var chunks []rawChunk
	c := newChunker(func(rc rawChunk) error { chunks = append(chunks, rc); return nil })
	for i, l := range strings.Split(b.String(), "\n") {
		if err := c.Line(i+1, l); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.End(); err != nil {
		t.Fatal(err)
	}
	if chunks[0].Heading != "Intro" || chunks[0].Start != 1 || chunks[0].End != 3 {
		t.Fatalf("first chunk %+v", chunks[0])
	}
	last := chunks[len(chunks)-1]
	if last.Heading != "Tail" || last.Text != "## Tail\nthe end" {
		t.Fatalf("last chunk %+v", last)
	}
	mid := chunks[1 : len(chunks)-1]
	if len(mid) < 3 {
		t.Fatalf("long section not split: %d chunks", len(mid))
	}
	for i, ch := range mid {
		if len(ch.Text) > chunkMax {
			t.Errorf("chunk %d too long: %d", i, len(ch.Text))
		}
		if i > 0 {
			// Overlap: the chunk starts before the previous one ended.
			if ch.Start > mid[i-1].End {
				t.Errorf("chunk %d (%d-%d) does not overlap previous (%d-%d)", i, ch.Start, ch.End, mid[i-1].Start, mid[i-1].End)
			}
			prevLast := mid[i-1].Text[strings.LastIndexByte(mid[i-1].Text, '\n')+1:]
			if !strings.Contains(ch.Text, prevLast) {
				t.Errorf("chunk %d does not repeat the previous chunk's last line", i)
			}
		}
	}
	// A single huge line is split, never kept whole.
	chunks = nil
	c = newChunker(func(rc rawChunk) error { chunks = append(chunks, rc); return nil })
	_ = c.Line(1, strings.Repeat("word ", 2000))
	_ = c.End()
	if len(chunks) < 5 {
		t.Fatalf("huge line: %d chunks", len(chunks))
	}
	for _, ch := range chunks {
		if len(ch.Text) > chunkMax || ch.Start != 1 {
			t.Fatalf("huge line chunk %d bytes lines %d-%d", len(ch.Text), ch.Start, ch.End)
		}
	}
}

func TestVaultTokenize(t *testing.T) {
	got := strings.Join(Tokenize("The Quick-brown FOX, naïve café 42x and the end!"), " ")
	want := "quick brown fox naïve café 42x end"
	if got != want {
		t.Fatalf("got %q want %q", got, want)
	}
}
