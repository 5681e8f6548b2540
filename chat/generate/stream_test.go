package generate

import (
	"errors"
	"strings"
	"testing"

	"github.com/sovos/sov/model"
)

func TestStream(t *testing.T) {
	res := Result{Stats: model.Stats{PromptTokens: 3, GeneratedTokens: 2, StopReason: model.StopEOG}}
	tests := []struct {
		name           string
		json, terminal bool
		tokens         []string
		fail           bool
		want           string
	}{
		{"text gets a final newline", false, false, []string{"Hello", " world"}, false, "Hello world\n"},
		{"text ending in a newline gets none", false, false, []string{"Hi\n"}, false, "Hi\n"},
		{"a pipe gets the model's bytes", false, false, []string{"a\x1b]52;c;eA==\x07b"}, false, "a\x1b]52;c;eA==\x07b\n"},
		{"a terminal gets them cleaned", false, true, []string{"a\x1b]52;c;eA==\x07b"}, false, "ab\n"},
		{"an error on a terminal starts a new line", false, true, []string{"partial"}, true, "partial\n"},
		{"an error in a pipe adds nothing", false, false, []string{"partial"}, true, "partial"},
		{"json events", true, false, []string{"x\u202e"}, false, `{"type":"token","text":"x\u202e"}` + "\n" +
			`{"type":"done","prompt_tokens":3,"generated_tokens":2,"prompt_tokens_per_second":0,"generated_tokens_per_second":0,"stop_reason":"eog","cached_tokens":0,"context_tokens":0}` + "\n"},
		{"json error event", true, false, nil, true, `{"type":"error","message":"boom"}` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			s := NewStream(&b, tt.json, tt.terminal)
			for _, tok := range tt.tokens {
				if err := s.Token(tok); err != nil {
					t.Fatal(err)
				}
			}
			if tt.fail {
				s.Error(errors.New("boom"))
			} else {
				s.Done(res, nil)
			}
			if b.String() != tt.want {
				t.Errorf("got %q, want %q", b.String(), tt.want)
			}
		})
	}
}
