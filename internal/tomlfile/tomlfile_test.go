package tomlfile

import (
	"errors"
	"testing"
)

func TestError(t *testing.T) {
	base := errors.New("bad")
	for _, tc := range []struct {
		name string
		e    *Error
		want string
	}{
		{"path only", &Error{Path: "a.toml", Err: base}, "a.toml: bad"},
		{"line", &Error{Path: "a.toml", Line: 3, Err: base}, "a.toml:3: bad"},
		{"line and field", &Error{Path: "a.toml", Line: 3, Field: "tools[1].allow", Err: base}, "a.toml:3: tools[1].allow: bad"},
		{"field, no line", &Error{Path: "a.toml", Field: "x", Err: base}, "a.toml: x: bad"},
		{"control characters", &Error{Path: "a.toml", Field: "\x1b]52;c;x\x07k", Err: base}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.e.Error()
			if tc.want == "" {
				for _, c := range got {
					if c == 0x1b || c == 0x07 {
						t.Fatalf("%q reaches the terminal raw", got)
					}
				}
			} else if got != tc.want {
				t.Errorf("Error() = %q, want %q", got, tc.want)
			}
			if !errors.Is(tc.e, base) {
				t.Error("does not unwrap to its Err")
			}
		})
	}
}
