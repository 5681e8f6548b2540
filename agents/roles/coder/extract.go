package coder

import (
	"regexp"
	"strconv"
	"strings"
)

// langTags are the fence tags each language's code comes under.
var langTags = map[string][]string{
	"python": {"python", "py", "python3"},
	"go":     {"go", "golang"},
}

type block struct {
	tag, code string
}

// blocks splits a reply into its fenced code blocks; an unclosed last
// block runs to the end (the model ran out of tokens).
func blocks(reply string) []block {
	var (
		bs   []block
		cur  *block
		body strings.Builder
	)
	for _, line := range strings.SplitAfter(reply, "\n") {
		trimmed := strings.TrimSpace(line)
		if !strings.HasPrefix(trimmed, "```") {
			if cur != nil {
				body.WriteString(line)
			}
			continue
		}
		if cur == nil {
			cur = &block{tag: strings.ToLower(strings.TrimSpace(strings.TrimLeft(trimmed, "`")))}
			body.Reset()
			continue
		}
		cur.code = body.String()
		bs = append(bs, *cur)
		cur = nil
	}
	if cur != nil {
		cur.code = body.String()
		bs = append(bs, *cur)
	}
	return bs
}

// Extract returns the code in a model's reply: the first fenced block
// tagged lang, else the first non-empty fenced block, else the reply
// itself (a model that answers with bare code).
func Extract(reply, lang string) string {
	bs := blocks(reply)
	for _, b := range bs {
		for _, tag := range langTags[lang] {
			if b.tag == tag && strings.TrimSpace(b.code) != "" {
				return b.code
			}
		}
	}
	for _, b := range bs {
		if strings.TrimSpace(b.code) != "" {
			return b.code
		}
	}
	if len(bs) > 0 {
		return ""
	}
	return strings.Trim(reply, "\n")
}

// fenceClosed reports whether text has a complete fenced block: an
// opening line and, after it, a closing one.
func fenceClosed(text string) bool {
	open := false
	lines := strings.SplitAfter(text, "\n")
	for i, line := range lines {
		if !strings.HasPrefix(strings.TrimSpace(line), "```") {
			continue
		}
		if open {
			return true
		}
		// An opening line counts once it is complete: "```" alone may
		// still become "```python".
		if i < len(lines)-1 {
			open = true
		}
	}
	return false
}

var (
	pyMain     = regexp.MustCompile(`(?m)^if __name__\s*==`)
	goPackage  = regexp.MustCompile(`(?m)^package \w+[ \t]*\n?`)
	goImports  = regexp.MustCompile(`(?ms)^import\s*\(.*?^\)[ \t]*\n?|^import\s+(\w+\s+)?"[^"]*"[ \t]*\n?`)
	pyFuncName = regexp.MustCompile(`(?m)^def\s+(\w+)\s*\(`)
	goFuncName = regexp.MustCompile(`(?m)^func\s+(\w+)\s*[\[(]`)
)

// lastFunc is the last top-level function src declares.
func lastFunc(lang, src string) string {
	re := pyFuncName
	if lang == "go" {
		re = goFuncName
	}
	m := re.FindAllStringSubmatch(src, -1)
	if len(m) == 0 {
		return ""
	}
	return m[len(m)-1][1]
}

// Assemble is the whole file for code, the extracted reply. Without a
// Prefix that is the code. With one, the file is Prefix and its completion:
// code that is a function body continues Prefix; code that declares the
// entry point whole is folded in (Python: a later def replaces the
// prompt's, whose docstring is a complete body; Go: the declaration's body
// continues Prefix, which ends with the signature, and helpers follow).
func Assemble(t Task, code string) string {
	if t.Prefix == "" {
		return strings.TrimSuffix(code, "\n") + "\n"
	}
	entry := t.EntryPoint
	if entry == "" {
		entry = lastFunc(t.Lang, t.Prefix)
	}
	prefix := t.Prefix
	if !strings.HasSuffix(prefix, "\n") {
		prefix += "\n"
	}
	if t.Lang == "go" {
		return prefix + goCompletion(code, entry)
	}
	if loc := pyMain.FindStringIndex(code); loc != nil {
		code = code[:loc[0]]
	}
	code = strings.TrimRight(code, " \t\n") + "\n"
	if entry != "" && regexp.MustCompile(`(?m)^def\s+`+regexp.QuoteMeta(entry)+`\s*\(`).MatchString(code) {
		return prefix + "\n" + code
	}
	return prefix + indentBody(code)
}

// indentBody indents a Python body the model wrote at column 0.
func indentBody(code string) string {
	for _, line := range strings.Split(code, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			return code
		}
		break
	}
	var b strings.Builder
	for _, line := range strings.SplitAfter(code, "\n") {
		if strings.TrimSpace(line) != "" {
			b.WriteString("    ")
		}
		b.WriteString(line)
	}
	return b.String()
}

// goCompletion turns Go code into what follows a prefix ending with the
// entry point's opening line: package and imports go (the harness imports
// what the code uses), a whole declaration of the entry point gives its
// body and the rest follows, and an unclosed body is closed.
func goCompletion(code, entry string) string {
	code = goPackage.ReplaceAllString(code, "")
	code = goImports.ReplaceAllString(code, "")
	if entry != "" {
		re := regexp.MustCompile(`(?m)^func\s+` + regexp.QuoteMeta(entry) + `\s*\(`)
		if loc := re.FindStringIndex(code); loc != nil {
			// The body starts after the line that opens it.
			rest := code[loc[0]:]
			if i := strings.Index(rest, "{\n"); i >= 0 {
				before := code[:loc[0]]
				code = rest[i+2:] + "\n" + before
			}
		}
	}
	code = strings.TrimRight(code, " \t\n") + "\n"
	if strings.Count(code, "{") >= strings.Count(code, "}") {
		code += "}\n"
	}
	return code
}

// FailingCase finds the failing test case in a test run's output: the
// source line of src (the file named file) at the last place the output
// points to at or after line from (1-based: where the tests start in src),
// as Python tracebacks (File "x.py", line N) and Go test failures
// (x_test.go:N) point. "" when the output points nowhere in the tests
// (a syntax error in the code, a crash before the tests).
func FailingCase(src, file, output string, from int) string {
	q := regexp.QuoteMeta(file)
	re := regexp.MustCompile(`File "(?:[^"]*/)?` + q + `", line (\d+)|(?:^|[\s/])` + q + `:(\d+)`)
	lines := strings.Split(src, "\n")
	found := ""
	for _, m := range re.FindAllStringSubmatch(output, -1) {
		n, err := strconv.Atoi(m[1] + m[2])
		if err != nil || n < from || n > len(lines) {
			continue
		}
		if l := strings.TrimSpace(lines[n-1]); l != "" {
			found = l
		}
	}
	return found
}
