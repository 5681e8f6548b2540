package vault

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/http"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/ledongthuc/pdf"
	"golang.org/x/net/html"
)

// Kinds of files the vault understands.
const (
	KindText     = "text"
	KindMarkdown = "markdown"
	KindHTML     = "html"
	KindPDF      = "pdf"
	KindEmail    = "email"
	KindMbox     = "mbox"
	KindVCard    = "vcard"
	KindJSON     = "json"
	KindCSV      = "csv"
)

var extKinds = map[string]string{
	".md": KindMarkdown, ".markdown": KindMarkdown, ".mdown": KindMarkdown, ".mkd": KindMarkdown,
	".txt": KindText, ".text": KindText, ".rst": KindText, ".org": KindText, ".adoc": KindText,
	".log": KindText, ".tex": KindText, ".yaml": KindText, ".yml": KindText, ".toml": KindText,
	".html": KindHTML, ".htm": KindHTML, ".xhtml": KindHTML,
	".pdf":  KindPDF,
	".eml":  KindEmail,
	".mbox": KindMbox, ".mbx": KindMbox,
	".vcf": KindVCard, ".vcard": KindVCard,
	".json": KindJSON, ".jsonl": KindJSON, ".ndjson": KindJSON,
	".csv": KindCSV, ".tsv": KindCSV,
}

// errSkip marks a file that is deliberately not indexed; its message is
// the reason shown to the user.
type errSkip struct{ reason string }

func (e errSkip) Error() string { return e.reason }

func skipf(format string, a ...any) error { return errSkip{fmt.Sprintf(format, a...)} }

// detectKind picks an extractor from the extension, or sniffs the first
// bytes of files without a known one.
func detectKind(path string, head []byte) (string, error) {
	if k, ok := extKinds[strings.ToLower(filepath.Ext(path))]; ok {
		if k != KindPDF && bytes.IndexByte(head, 0) >= 0 {
			return "", skipf("binary content in a %s file", k)
		}
		return k, nil
	}
	if bytes.HasPrefix(head, []byte("From ")) && bytes.Contains(head, []byte("\nFrom:")) {
		return KindMbox, nil
	}
	ct := http.DetectContentType(head)
	switch {
	case strings.HasPrefix(ct, "text/html"):
		return KindHTML, nil
	case strings.HasPrefix(ct, "application/pdf"):
		return KindPDF, nil
	case strings.HasPrefix(ct, "text/plain"):
		if len(head) == 0 {
			return "", skipf("empty file")
		}
		return KindText, nil
	}
	if i := strings.IndexByte(ct, ';'); i > 0 {
		ct = ct[:i]
	}
	return "", skipf("unsupported or binary file (%s)", ct)
}

// lineFunc receives the extracted text one line at a time.
type lineFunc func(text string) error

// maxLine caps how much of one physical line is held at once.
const maxLine = 64 << 10

// readLines reads r line by line, splitting absurdly long lines, and
// replaces invalid UTF-8.
func readLines(r io.Reader, emit lineFunc) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var buf []byte
	for {
		part, isPrefix, err := br.ReadLine()
		if len(part) > 0 || (err == nil && !isPrefix) {
			buf = append(buf, part...)
		}
		if err == nil && isPrefix && len(buf) < maxLine {
			continue
		}
		if err == io.EOF {
			if len(buf) > 0 {
				return emit(cleanText(buf))
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("read: %w", err)
		}
		if err := emit(cleanText(buf)); err != nil {
			return err
		}
		buf = buf[:0]
	}
}

func cleanText(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

func extractText(r io.Reader, emit lineFunc) error { return readLines(r, emit) }

// extractHTML keeps visible text, one line per block element, with
// headings as Markdown headings so chunking follows them.
func extractHTML(r io.Reader, emit lineFunc) error {
	z := html.NewTokenizer(r)
	var line strings.Builder
	skip, pre, heading := 0, 0, 0
	flush := func() error {
		t := strings.TrimSpace(line.String())
		line.Reset()
		if t == "" {
			return nil
		}
		if heading > 0 {
			t = strings.Repeat("#", heading) + " " + t
		}
		return emit(t)
	}
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			if err := z.Err(); err != io.EOF {
				return fmt.Errorf("read html: %w", err)
			}
			return flush()
		case html.TextToken:
			if skip > 0 {
				continue
			}
			text := string(z.Text())
			if pre > 0 {
				for i, l := range strings.Split(text, "\n") {
					if i > 0 {
						if err := emit(line.String()); err != nil {
							return err
						}
						line.Reset()
					}
					line.WriteString(l)
				}
				continue
			}
			f := strings.Fields(text)
			if len(f) == 0 {
				if text != "" && line.Len() > 0 {
					line.WriteByte(' ')
				}
				continue
			}
			if line.Len() > 0 && (text[0] == ' ' || text[0] == '\n' || text[0] == '\t') {
				line.WriteByte(' ')
			}
			line.WriteString(strings.Join(f, " "))
			if last := text[len(text)-1]; last == ' ' || last == '\n' || last == '\t' {
				line.WriteByte(' ')
			}
		case html.StartTagToken, html.EndTagToken, html.SelfClosingTagToken:
			name, _ := z.TagName()
			tag := string(name)
			start := tt == html.StartTagToken
			switch tag {
			case "script", "style", "noscript", "template", "svg", "head":
				if tt == html.SelfClosingTagToken {
					continue
				}
				if start {
					skip++
				} else if skip > 0 {
					skip--
				}
				continue
			case "title":
				// The title is the one useful part of <head>.
				if start {
					if err := flush(); err != nil {
						return err
					}
					skip, heading = 0, 1
				} else {
					if err := flush(); err != nil {
						return err
					}
					heading = 0
				}
				continue
			case "pre":
				if err := flush(); err != nil {
					return err
				}
				if start {
					pre++
				} else if pre > 0 {
					pre--
				}
				continue
			case "h1", "h2", "h3", "h4", "h5", "h6":
				if err := flush(); err != nil {
					return err
				}
				if start {
					heading = int(tag[1] - '0')
				} else {
					heading = 0
				}
				continue
			}
			if blockTags[tag] {
				if err := flush(); err != nil {
					return err
				}
				if tag == "p" && !start {
					if err := emit(""); err != nil {
						return err
					}
				}
			}
		}
	}
}

var blockTags = map[string]bool{
	"p": true, "div": true, "br": true, "li": true, "tr": true, "td": true, "th": true,
	"section": true, "article": true, "blockquote": true, "table": true, "ul": true,
	"ol": true, "hr": true, "header": true, "footer": true, "nav": true, "main": true,
	"dt": true, "dd": true, "figcaption": true, "body": true, "html": true,
}

// extractPDF reads the text layer page by page.
func extractPDF(f *os.File, size int64, emit lineFunc) error {
	r, err := pdf.NewReader(f, size)
	if err != nil {
		if strings.Contains(strings.ToLower(err.Error()), "encrypt") {
			return skipf("encrypted PDF (decrypt it first)")
		}
		return skipf("unreadable PDF (%v)", err)
	}
	pages := r.NumPage()
	any := false
	for i := 1; i <= pages; i++ {
		p := r.Page(i)
		if p.V.IsNull() {
			continue
		}
		text, err := p.GetPlainText(nil)
		if err != nil {
			return skipf("unreadable PDF page %d (%v)", i, err)
		}
		if strings.TrimSpace(text) == "" {
			continue
		}
		any = true
		if err := emit(fmt.Sprintf("# Page %d", i)); err != nil {
			return err
		}
		for _, l := range strings.Split(text, "\n") {
			if err := emit(l); err != nil {
				return err
			}
		}
	}
	if !any {
		return skipf("PDF has no text layer (scanned? run OCR first)")
	}
	return nil
}

var wordDecoder = mime.WordDecoder{CharsetReader: func(charset string, input io.Reader) (io.Reader, error) {
	// Without a charset table, pass bytes through; invalid UTF-8 is
	// replaced later.
	return input, nil
}}

func decodeHeader(s string) string {
	if d, err := wordDecoder.DecodeHeader(s); err == nil {
		return d
	}
	return s
}

// extractEmail emits the subject as a heading, the main headers, and the
// text body (text/plain preferred, else HTML), naming attachments.
func extractEmail(r io.Reader, emit lineFunc) error {
	msg, err := mail.ReadMessage(bufio.NewReader(r))
	if err != nil {
		return skipf("not an e-mail message (%v)", err)
	}
	return emitMessage(msg, emit)
}

func emitMessage(msg *mail.Message, emit lineFunc) error {
	subj := decodeHeader(msg.Header.Get("Subject"))
	if subj == "" {
		subj = "(no subject)"
	}
	if err := emit("# " + subj); err != nil {
		return err
	}
	for _, h := range []string{"From", "To", "Cc", "Date"} {
		if v := msg.Header.Get(h); v != "" {
			if err := emit(h + ": " + decodeHeader(v)); err != nil {
				return err
			}
		}
	}
	if err := emit(""); err != nil {
		return err
	}
	return emitBody(textproto(msg.Header), msg.Body, emit, 0)
}

type headerGetter interface{ Get(string) string }

func textproto(h mail.Header) headerGetter { return h }

func emitBody(h headerGetter, body io.Reader, emit lineFunc, depth int) error {
	ct := h.Get("Content-Type")
	if ct == "" {
		ct = "text/plain"
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		mt = "text/plain"
	}
	body = decodeTransfer(h.Get("Content-Transfer-Encoding"), body)
	switch {
	case strings.HasPrefix(mt, "multipart/") && depth < 8:
		mr := multipart.NewReader(body, params["boundary"])
		var htmlPart []byte
		sawText := false
		for {
			p, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				return skipf("malformed multipart e-mail (%v)", err)
			}
			pct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
			disp, dparams, _ := mime.ParseMediaType(p.Header.Get("Content-Disposition"))
			switch {
			case disp == "attachment" || (p.FileName() != "" && !strings.HasPrefix(pct, "text/")):
				name := p.FileName()
				if name == "" {
					name = dparams["filename"]
				}
				if err := emit("[attachment: " + decodeHeader(name) + "]"); err != nil {
					return err
				}
			case pct == "text/html" && mt == "multipart/alternative":
				b, _ := io.ReadAll(io.LimitReader(decodeTransfer(p.Header.Get("Content-Transfer-Encoding"), p), 16<<20))
				htmlPart = b
			case pct == "" || strings.HasPrefix(pct, "text/") || strings.HasPrefix(pct, "multipart/"):
				if pct == "" || pct == "text/plain" {
					sawText = true
				}
				if err := emitBody(p.Header, p, emit, depth+1); err != nil {
					return err
				}
			}
		}
		if !sawText && htmlPart != nil {
			return extractHTML(bytes.NewReader(htmlPart), emit)
		}
		return nil
	case mt == "text/html":
		return extractHTML(body, emit)
	case strings.HasPrefix(mt, "text/") || mt == "message/rfc822":
		return readLines(body, emit)
	}
	return nil
}

func decodeTransfer(enc string, r io.Reader) io.Reader {
	switch strings.ToLower(strings.TrimSpace(enc)) {
	case "quoted-printable":
		return quotedprintable.NewReader(r)
	case "base64":
		return base64.NewDecoder(base64.StdEncoding, &newlineStripper{r: r})
	}
	return r
}

// newlineStripper drops CR/LF so base64 bodies decode.
type newlineStripper struct{ r io.Reader }

func (n *newlineStripper) Read(p []byte) (int, error) {
	for {
		k, err := n.r.Read(p)
		j := 0
		for _, c := range p[:k] {
			if c != '\r' && c != '\n' && c != ' ' && c != '\t' {
				p[j] = c
				j++
			}
		}
		if j > 0 || err != nil {
			return j, err
		}
	}
}

// maxMboxMessage bounds one message held in memory while splitting an mbox.
const maxMboxMessage = 32 << 20

// extractMbox splits on "From " separator lines and extracts each message.
func extractMbox(r io.Reader, emit lineFunc) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var msg bytes.Buffer
	n := 0
	flushMsg := func() error {
		if msg.Len() == 0 {
			return nil
		}
		n++
		m, err := mail.ReadMessage(bytes.NewReader(msg.Bytes()))
		msg.Reset()
		if err != nil {
			return emit(fmt.Sprintf("[message %d unreadable: %v]", n, err))
		}
		if err := emitMessage(m, emit); err != nil {
			var s errSkip
			if errors.As(err, &s) {
				return emit(fmt.Sprintf("[message %d: %s]", n, s.reason))
			}
			return err
		}
		return emit("")
	}
	started := false
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			if bytes.HasPrefix(line, []byte("From ")) {
				if ferr := flushMsg(); ferr != nil {
					return ferr
				}
				started = true
			} else if started {
				if bytes.HasPrefix(line, []byte(">From ")) {
					line = line[1:]
				}
				if msg.Len() < maxMboxMessage {
					msg.Write(line)
				}
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("read mbox: %w", err)
		}
	}
	if !started {
		return skipf("not an mbox file (no \"From \" separator lines)")
	}
	return flushMsg()
}

var vcardLabels = map[string]string{
	"EMAIL": "Email", "TEL": "Phone", "ADR": "Address", "ORG": "Organisation",
	"TITLE": "Title", "NOTE": "Note", "BDAY": "Birthday", "URL": "URL",
	"NICKNAME": "Nickname", "ROLE": "Role", "N": "Name",
}

// extractVCard emits one heading per contact (its formatted name) and its
// fields as "Label: value" lines.
func extractVCard(r io.Reader, emit lineFunc) error {
	var lines []string
	flushLine := func(l string) error {
		name, value, ok := strings.Cut(l, ":")
		if !ok {
			return nil
		}
		prop := strings.ToUpper(name)
		if i := strings.IndexByte(prop, ';'); i >= 0 {
			prop = prop[:i]
		}
		if i := strings.IndexByte(prop, '.'); i >= 0 { // item1.EMAIL
			prop = prop[i+1:]
		}
		value = vcardUnescape(value)
		switch prop {
		case "BEGIN":
			return nil
		case "END":
			return emit("")
		case "FN":
			return emit("# " + value)
		case "N", "ADR", "ORG":
			value = strings.Join(strings.Fields(strings.ReplaceAll(value, ";", " ")), " ")
		}
		if label, ok := vcardLabels[prop]; ok && value != "" {
			return emit(label + ": " + value)
		}
		return nil
	}
	seen := false
	err := readLines(r, func(l string) error {
		if (strings.HasPrefix(l, " ") || strings.HasPrefix(l, "\t")) && len(lines) > 0 {
			lines[len(lines)-1] += l[1:]
			return nil
		}
		if strings.EqualFold(strings.TrimSpace(l), "BEGIN:VCARD") {
			seen = true
		}
		if len(lines) > 0 {
			if err := flushLine(lines[0]); err != nil {
				return err
			}
			lines = lines[:0]
		}
		lines = append(lines, l)
		return nil
	})
	if err != nil {
		return err
	}
	if !seen {
		return skipf("not a vCard file (no BEGIN:VCARD)")
	}
	if len(lines) > 0 {
		return flushLine(lines[0])
	}
	return nil
}

func vcardUnescape(s string) string {
	if !strings.Contains(s, `\`) {
		return strings.TrimSpace(s)
	}
	r := strings.NewReplacer(`\n`, " ", `\N`, " ", `\,`, ",", `\;`, ";", `\\`, `\`)
	return strings.TrimSpace(r.Replace(s))
}
