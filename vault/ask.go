package vault

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/sovos/sov/assets"
)

// Generator answers a system and a user message with a JSON document
// matching schema (a JSON Schema). The CLI adapts model.Engine.JSON, whose
// grammar forces that shape on any model, however small; Ask validates the
// document again all the same.
type Generator func(ctx context.Context, system, user string, schema []byte) ([]byte, error)

// ErrNoChatModel is returned by Ask when passages were found but no
// generator was given to answer from them.
var ErrNoChatModel = errors.New("no chat model to answer with")

// ErrBadAnswer wraps a generated answer that is not the document asked
// for (a citation of no given passage, a missing statement).
var ErrBadAnswer = errors.New("the model's answer is malformed")

// NotInVault is the answer when no passage is relevant.
const NotInVault = "not in the vault"

// Relevance floors of Ask (see AskOptions); [vault] ask_min_bm25 and
// ask_min_cosine override them.
const (
	DefaultMinBM25   = 1.0
	DefaultMinCosine = 0.35
)

// AskOptions tune Ask.
type AskOptions struct {
	Collection string
	K          int // passages given to the model; default 4
	// MaxPassageBytes trims each passage to fit small contexts (default 1200).
	MaxPassageBytes int
	// MinBM25 is the relevance a passage needs to count as a lexical
	// match (Result.BM25, default 1.0): one occurrence of a term that few
	// chunks have scores about 2 and more, one of a term most chunks of a
	// large collection have (what, about, my) nearly 0. MinCosine is the
	// similarity a passage needs to count as a vector match (default
	// 0.35). A passage is given to the model when it passes either floor;
	// zero means the default, a negative floor admits any match.
	MinBM25, MinCosine float64
}

// Answer is a generated answer citing the passages in Sources as [n],
// where n is the matching entry of Cited.
type Answer struct {
	Text     string   `json:"answer"`
	Sources  []Result `json:"sources"`
	Cited    []int    `json:"cited,omitempty"`
	NotFound bool     `json:"not_found"`
	Mode     string   `json:"mode"`
}

// askSystem is the system prompt of Ask (assets/prompts/vault-ask.md).
var askSystem = assets.Prompt("vault-ask")

// Bounds of the answer document: they keep a small model's output short
// enough to finish within a few hundred tokens.
const (
	maxStatements    = 5
	maxStatementLen  = 240
	maxCitesPerClaim = 3
)

// AskSchema is the JSON Schema of an answer from n passages: up to five
// statements, each citing one to three of the passages by number; no
// statement means the passages do not answer the question. (Properties
// are in the order a model should write them.)
func AskSchema(n int) []byte {
	return fmt.Appendf(nil, `{"type":"object","properties":{"statements":{"type":"array","minItems":0,"maxItems":%d,"items":{
"type":"object","properties":{"text":{"type":"string","minLength":1,"maxLength":%d},
"cites":{"type":"array","minItems":1,"maxItems":%d,"items":{"type":"integer","minimum":1,"maximum":%d}}},
"required":["text","cites"],"additionalProperties":false}}},"required":["statements"],"additionalProperties":false}`,
		maxStatements, maxStatementLen, maxCitesPerClaim, n)
}

// askReply is the document AskSchema describes.
type askReply struct {
	Statements []struct {
		Text  string `json:"text"`
		Cites []int  `json:"cites"`
	} `json:"statements"`
}

// Ask answers question from the passages that pass the relevance floors.
// With none it returns NotInVault without calling gen (so a lazily loaded
// model is never loaded). Sources lists only the passages the answer
// cites.
func (v *Vault) Ask(ctx context.Context, question string, gen Generator, o AskOptions) (*Answer, error) {
	if o.K <= 0 {
		o.K = 4
	}
	if o.MaxPassageBytes <= 0 {
		o.MaxPassageBytes = 1200
	}
	// Over-fetch: the fused top K may hold irrelevant passages that
	// relevant ones further down should replace.
	resp, err := v.Search(ctx, question, SearchOptions{Collection: o.Collection, K: 3 * o.K}) // releases the keys before generating
	if err != nil {
		return nil, err
	}
	passages := Relevant(resp.Results, o.MinBM25, o.MinCosine)
	if len(passages) > o.K {
		passages = passages[:o.K]
	}
	ans := &Answer{Mode: resp.Mode}
	if len(passages) == 0 {
		ans.Text, ans.NotFound = NotInVault, true
		return ans, nil
	}
	if gen == nil {
		return nil, ErrNoChatModel
	}
	out, err := gen(ctx, askSystem, BuildAskPrompt(question, passages, o.MaxPassageBytes), AskSchema(len(passages)))
	if err != nil {
		return nil, fmt.Errorf("generate answer: %w", err)
	}
	return ans, ans.fill(out, passages)
}

// Relevant keeps the results that pass either floor (see AskOptions), in
// their order.
func Relevant(rs []Result, minBM25, minCosine float64) []Result {
	if minBM25 == 0 {
		minBM25 = DefaultMinBM25
	}
	if minCosine == 0 {
		minCosine = DefaultMinCosine
	}
	var out []Result
	for _, r := range rs {
		if (r.Lexical && r.BM25 >= minBM25) || (r.Similar && r.Cosine >= minCosine) {
			out = append(out, r)
		}
	}
	return out
}

// markerRE matches citation markers a model wrote into a statement's text;
// only the structured citations count, so these are dropped.
var markerRE = regexp.MustCompile(`\s*\[\d+\]`)

// fill checks the generated document and renders it: every citation
// refers to a given passage, and Sources holds exactly the cited ones.
func (a *Answer) fill(doc []byte, passages []Result) error {
	var r askReply
	dec := json.NewDecoder(strings.NewReader(string(doc)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return fmt.Errorf("%w: %v", ErrBadAnswer, err)
	}
	if r.Statements == nil {
		return fmt.Errorf("%w: no statements", ErrBadAnswer)
	}
	if len(r.Statements) == 0 {
		a.Text, a.NotFound = NotInVault, true
		return nil
	}
	var parts []string
	cited := map[int]bool{}
	for i, s := range r.Statements {
		text := strings.TrimSpace(markerRE.ReplaceAllString(s.Text, ""))
		if text == "" || len(s.Cites) == 0 {
			return fmt.Errorf("%w: statement %d is empty or cites nothing", ErrBadAnswer, i+1)
		}
		var marks strings.Builder
		for _, c := range s.Cites {
			if c < 1 || c > len(passages) {
				return fmt.Errorf("%w: statement %d cites [%d], but %d passages were given", ErrBadAnswer, i+1, c, len(passages))
			}
			if !strings.Contains(marks.String(), "["+strconv.Itoa(c)+"]") {
				marks.WriteString("[" + strconv.Itoa(c) + "]")
			}
			cited[c] = true
		}
		parts = append(parts, text+" "+marks.String())
	}
	a.Text = strings.Join(parts, " ")
	for c := range cited {
		a.Cited = append(a.Cited, c)
	}
	slices.Sort(a.Cited)
	for _, c := range a.Cited {
		a.Sources = append(a.Sources, passages[c-1])
	}
	return nil
}

// BuildAskPrompt lays out the passages as numbered, fenced data followed by
// the question. Everything that comes from the vault, file names included,
// is inside a fence and cannot close it.
func BuildAskPrompt(question string, passages []Result, maxBytes int) string {
	var b strings.Builder
	b.WriteString("Passages (quoted data from the vault):\n")
	for i, p := range passages {
		text := p.Text
		if len(text) > maxBytes {
			text = trimUTF8(text, maxBytes) + "…"
		}
		fmt.Fprintf(&b, "\n[%d]\n<<<\nfile: %s (lines %d-%d)\n%s\n>>>\n", i+1, fenced(strconv.Quote(p.Source)), p.Start, p.End, fenced(text))
	}
	fmt.Fprintf(&b, "\nQuestion: %s\nAnswer with statements that cite the passages they use by number.", question)
	return b.String()
}

// fenced breaks the fence markers in data so it cannot open or close a
// fence of its own.
func fenced(s string) string {
	// Repeated: breaking one run of ">>>>>" can leave another behind.
	for strings.Contains(s, ">>>") || strings.Contains(s, "<<<") {
		s = strings.NewReplacer(">>>", "> > >", "<<<", "< < <").Replace(s)
	}
	return s
}

func trimUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
