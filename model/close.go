package model

import (
	"context"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/sovos/sov/model/grammar"
)

// generateClosing is generate for a grammar-forced reply that must end
// within its token limit. A small model can loop inside a JSON string (it
// repeats its text) until the limit, and the grammar cannot make it close
// the string. So when the reply reaches the limit (Sampling.MaxTokens, or
// the context's end) unfinished, it is taken back to the latest token from
// which the grammar's shortest completion still fits the limit, and the
// model writes that completion under a grammar that allows nothing else.
// The reply is then a document of the original grammar (a string cut
// short, required properties with their shortest values) of at most the
// limit's tokens: every token is at least one byte, so a completion of n
// bytes takes at most n tokens.
//
// The streamer holds back the text of the last MaxCompletion tokens before
// the limit until the reply is settled, so that fn never sees text that is
// taken back.
func (e *Engine) generateClosing(ctx context.Context, toks []int32, s Sampling, fn TokenFunc, comp *grammar.Completer) (string, Stats, error) {
	limit := e.nCtx - len(toks) - 1 // the end of generation must fit too
	if s.MaxTokens > 0 {
		limit = min(limit, s.MaxTokens)
	}
	// A token boundary inside a multi-byte character is no place to close:
	// up to 3 more tokens back.
	holdFrom := max(limit-comp.MaxCompletion()-3, 0)
	emitted := 0
	stream := func(piece string) error {
		emitted += len(piece)
		if fn == nil {
			return nil
		}
		return fn(piece)
	}
	release := func(text string) error {
		if emitted >= len(text) {
			return nil
		}
		return stream(text[emitted:])
	}

	e.holding, e.holdFrom = true, holdFrom
	defer func() { e.holding = false }()
	out, st, err := e.generateOnWorker(ctx, toks, s, stream)
	e.holding = false
	if err != nil {
		return out, st, err
	}
	if st.StopReason != StopMaxTokens && st.StopReason != StopContext {
		return out, st, release(out)
	}
	if len(e.cache) < len(toks) || len(e.cache)+len(e.undecoded) != len(toks)+st.GeneratedTokens {
		return out, st, release(out)
	}
	gen := slices.Concat(e.cache[len(toks):], e.undecoded)
	at, closing, ok := e.closePoint(gen, comp, holdFrom, limit)
	if !ok || !strings.HasPrefix(out, closing.prefix) {
		// No completion fits: the caller reports the reply as cut.
		return out, st, release(out)
	}
	if err := release(closing.prefix); err != nil {
		return closing.prefix, st, err
	}
	cont := append(append(make([]int32, 0, len(toks)+at), toks...), gen[:at]...)
	s2 := Sampling{Grammar: grammar.Literal(closing.text), MaxTokens: limit - at + 1}
	tail, st2, err := e.generateOnWorker(ctx, cont, s2, stream)
	st.GeneratedTokens = at + st2.GeneratedTokens
	st.Drafted += st2.Drafted
	st.DraftAccepted += st2.DraftAccepted
	st.GenDuration += st2.PromptDuration + st2.GenDuration
	st.StopReason, st.ContextUsed, st.Threads = st2.StopReason, st2.ContextUsed, st2.Threads
	st.Closed = true
	return closing.prefix + tail, st, err
}

type closing struct {
	prefix string // the text of the tokens kept
	text   string // the shortest completion of prefix
}

// closePoint is the latest token count at, from holdFrom up, whose text is
// whole characters and whose shortest completion fits in limit-at bytes.
func (e *Engine) closePoint(gen []int32, comp *grammar.Completer, holdFrom, limit int) (int, closing, bool) {
	type point struct {
		at     int
		prefix string
		p      grammar.Prefix
	}
	var (
		points  []point
		text    strings.Builder
		pending []byte
	)
	p := comp.Start()
	for i, t := range gen {
		pending = append(pending, e.detokenize([]int32{t})...)
		for len(pending) > 0 && utf8.FullRune(pending) {
			r, n := utf8.DecodeRune(pending)
			text.Write(pending[:n])
			pending = pending[n:]
			p = p.Next(r)
		}
		if !p.Valid() {
			break // not the grammar's text (cannot happen): close no later
		}
		if len(pending) == 0 && i+1 >= holdFrom {
			points = append(points, point{i + 1, text.String(), p})
		}
	}
	if holdFrom == 0 {
		points = append([]point{{0, "", comp.Start()}}, points...)
	}
	for i := len(points) - 1; i >= 0; i-- {
		pt := points[i]
		if c, ok := pt.p.Completion(); ok && pt.at+len(c) <= limit {
			return pt.at, closing{pt.prefix, c}, true
		}
	}
	return 0, closing{}, false
}
