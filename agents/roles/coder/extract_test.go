package coder

import (
	"strings"
	"testing"
)

func TestExtract(t *testing.T) {
	for _, tc := range []struct{ name, reply, lang, want string }{
		{"fenced", "Sure!\n```python\nx = 1\n```\nDone.", "python", "x = 1\n"},
		{"prefers the language's block", "```text\nout\n```\n```go\nfunc F() {}\n```", "go", "func F() {}\n"},
		{"first non-empty block", "```\n\n```\n```js\nlet x\n```", "python", "let x\n"},
		{"unclosed block", "```python\ndef f():\n    return 1\n", "python", "def f():\n    return 1\n"},
		{"raw code", "\ndef f():\n    return 1\n", "python", "def f():\n    return 1"},
		{"empty fence", "```python\n```", "python", ""},
		{"indented fence", "  ```py\n  x = 1\n  ```", "python", "  x = 1\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Extract(tc.reply, tc.lang); got != tc.want {
				t.Errorf("Extract = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestFenceClosed(t *testing.T) {
	for text, want := range map[string]bool{
		"```python\nx\n```":  true,
		"```python\nx\n":     false,
		"```":                false,
		"text\n```go\n":      false,
		"a\n```\nb\n```\nc":  true,
		"no code at all\n\n": false,
	} {
		if got := fenceClosed(text); got != want {
			t.Errorf("fenceClosed(%q) = %v", text, got)
		}
	}
}

func TestAssemble(t *testing.T) {
	pyPrefix := "from typing import List\n\n\ndef f(xs: List[int]) -> int:\n    \"\"\"Sum.\"\"\"\n"
	goPrefix := "import (\n    \"math\"\n)\n\n// F doubles.\nfunc F(x int) int {\n"
	for _, tc := range []struct {
		name string
		task Task
		code string
		want string
	}{
		{"whole file", Task{Lang: "go"}, "package x\n", "package x\n"},
		{"python body", Task{Lang: "python", Prefix: pyPrefix}, "    return sum(xs)\n", pyPrefix + "    return sum(xs)\n"},
		{"python body at column 0", Task{Lang: "python", Prefix: pyPrefix}, "s = 0\nfor x in xs:\n    s += x\nreturn s", pyPrefix + "    s = 0\n    for x in xs:\n        s += x\n    return s\n"},
		{"python whole function", Task{Lang: "python", Prefix: pyPrefix}, "from typing import List\ndef f(xs):\n    return sum(xs)\n\nif __name__ == '__main__':\n    print(f([1]))\n",
			pyPrefix + "\nfrom typing import List\ndef f(xs):\n    return sum(xs)\n"},
		{"go body", Task{Lang: "go", Prefix: goPrefix}, "    return 2 * x\n}\n", goPrefix + "    return 2 * x\n}\n"},
		{"go unclosed body", Task{Lang: "go", Prefix: goPrefix}, "    return 2 * x\n", goPrefix + "    return 2 * x\n}\n"},
		{"go whole function", Task{Lang: "go", Prefix: goPrefix}, "package main\n\nimport (\n\t\"fmt\"\n)\nimport \"strings\"\n\nfunc helper() int { return 2 }\n\nfunc F(x int) int {\n\treturn helper() * x\n}\n",
			goPrefix + "\treturn helper() * x\n}\n\n\n\nfunc helper() int { return 2 }\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Assemble(tc.task, tc.code); got != tc.want {
				t.Errorf("Assemble =\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

func TestFailingCase(t *testing.T) {
	py := "def f(x):\n    return x\n\ndef check(candidate):\n    assert candidate(1) == 1\n    assert candidate(2) == 3\n\ncheck(f)\n"
	goSrc := "package main\nfunc F() int { return 1 }\nfunc TestF(t *testing.T) {\n    assert := assert.New(t)\n    assert.Equal(2, F())\n}\n"
	for _, tc := range []struct {
		name, src, file, output string
		from                    int
		want                    string
	}{
		{"python assert", py, "program.py", "Traceback (most recent call last):\n  File \"/tmp/x/program.py\", line 8, in <module>\n    check(f)\n  File \"/tmp/x/program.py\", line 6, in check\nAssertionError\n", 4, "assert candidate(2) == 3"},
		{"python error in the code", py, "program.py", "  File \"program.py\", line 8, in <module>\n  File \"program.py\", line 6, in check\n  File \"program.py\", line 2, in f\nZeroDivisionError\n", 4, "assert candidate(2) == 3"},
		{"python syntax error", py, "program.py", "  File \"program.py\", line 2\n    return x\nSyntaxError\n", 4, ""},
		{"go testify", goSrc, "main_test.go", "--- FAIL: TestF\n    main_test.go:5: \n        \tError Trace:\t/tmp/p-1/main_test.go:5\n", 3, "assert.Equal(2, F())"},
		{"go compile error", goSrc, "main_test.go", "./main_test.go:2:20: undefined: y\n", 3, ""},
		{"another file", goSrc, "main_test.go", "other_test.go:5: x\n", 3, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := FailingCase(tc.src, tc.file, tc.output, tc.from); got != tc.want {
				t.Errorf("FailingCase = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestTrim(t *testing.T) {
	long := strings.Repeat("abcdefghi\n", 300) + "the end"
	got := Trim(long, 100)
	if len(got) > 110 || !strings.HasSuffix(got, "the end") || !strings.HasPrefix(got, "…\nabcdefghi\n") {
		t.Errorf("Trim = %q", got)
	}
	if Trim("  short\n", 100) != "short" {
		t.Error("short output changed")
	}
}
