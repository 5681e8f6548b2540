// Package tomlfile is what sov's hand-edited TOML files (agent files, the DAO
// policy) share: an error that says where in the file the problem is.
package tomlfile

import (
	"strconv"
	"strings"

	"github.com/sovos/sov/internal/termtext"
)

// Error is a file that cannot be used: where (Line 0 when the problem has no
// one place) and which field (`tools[1].allow[0]`, as the fields are written
// in the file, arrays counted from 0).
type Error struct {
	Path  string
	Line  int
	Field string
	Err   error
}

// Error reads "PATH[:LINE]: [FIELD: ]ERR".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Path)
	if e.Line > 0 {
		b.WriteString(":" + strconv.Itoa(e.Line))
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Err.Error())
	// The file may come from anyone: its keys and values are quoted in
	// these messages, and must not drive the terminal.
	return termtext.Clean(b.String())
}

func (e *Error) Unwrap() error { return e.Err }
