package vault

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxTermLen drops absurd tokens (base64 blobs, hashes) from the index.
const maxTermLen = 64

// stopWords are frequent English words left out of the index; BM25 gives
// them almost no weight anyway, and skipping them keeps posting lists short.
var stopWords = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`a an and are as at be but by for if in into is it no not of on or such
		that the their then there these they this to was will with`) {
		m[w] = true
	}
	return m
}()

// StopWords returns the stop list (for benchmarks that configure another
// engine with the same analysis).
func StopWords() []string {
	out := make([]string, 0, len(stopWords))
	for w := range stopWords {
		out = append(out, w)
	}
	return out
}

// Tokenize splits text into lower-case index terms: runs of letters and
// digits, stop words removed.
func Tokenize(text string) []string {
	var out []string
	forEachToken(text, func(t string, _, _ int) { out = append(out, t) })
	return out
}

// forEachToken calls fn with every index term and its byte span in text.
func forEachToken(text string, fn func(term string, start, end int)) {
	start := -1
	var lower strings.Builder
	flush := func(end int) {
		if start < 0 {
			return
		}
		t := text[start:end]
		if !isLowerASCII(t) {
			lower.Reset()
			for _, r := range t {
				lower.WriteRune(unicode.ToLower(r))
			}
			t = lower.String()
		}
		if len(t) <= maxTermLen && !stopWords[t] {
			fn(t, start, end)
		}
		start = -1
	}
	for i := 0; i < len(text); {
		c := text[i]
		if c < utf8.RuneSelf {
			if ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9') {
				if start < 0 {
					start = i
				}
			} else {
				flush(i)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(text[i:])
		if unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r) {
			if start < 0 {
				start = i
			}
		} else {
			flush(i)
		}
		i += n
	}
	flush(len(text))
}

func isLowerASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf || ('A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}
