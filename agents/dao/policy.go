package dao

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/sovos/sov/internal/tomlfile"
)

// DefaultHub is Snapshot's public GraphQL endpoint.
const DefaultHub = "https://hub.snapshot.org/graphql"

// Stances an issue may take.
const (
	StanceFor     = "for"
	StanceAgainst = "against"
	StanceAbstain = "abstain"
)

// Policy is the user's policy file: what the delegate follows, the issues
// it has a stance on, the lines it never crosses, and when it may vote
// without asking.
type Policy struct {
	// Default is what happens to a decision no auto-cast rule covers:
	// "draft" (queued for the user's approval) or "abstain".
	Default string `toml:"default"`
	// ReviewWindow: nothing is cast earlier than this long before a
	// proposal ends, so the user can look and override first.
	ReviewWindow Duration `toml:"review_window"`
	// MinConfidence: a model decision below it abstains.
	MinConfidence float64 `toml:"min_confidence"`
	// Governors followed on chain, as CAIP-10 accounts
	// ("eip155:1:0x…"); voted through another package.
	Governors []string   `toml:"governors"`
	Snapshot  Snapshot   `toml:"snapshot"`
	Issues    []Issue    `toml:"issues"`
	RedLines  []RedLine  `toml:"red_lines"`
	AutoCast  []AutoCast `toml:"auto_cast"`
	Log       Log        `toml:"log"`

	// Path is where the policy was read from.
	Path string `toml:"-"`
}

// Snapshot says which spaces are followed and where the hub is.
type Snapshot struct {
	Hub string `toml:"hub"` // GraphQL endpoint; DefaultHub when empty
	// Sequencer receives signed messages; derived from Hub when empty.
	Sequencer string   `toml:"sequencer"`
	Spaces    []string `toml:"spaces"`
}

// Issue is one thing the user has a stance on. Its id is a policy clause
// a decision may cite.
type Issue struct {
	ID     string `toml:"id"`
	Stance string `toml:"stance"` // for, against, abstain
	About  string `toml:"about"`  // for the model and for people
	// Unless is a condition that reverses the stance, judged by the model
	// (so an issue with one is never an exact match).
	Unless string `toml:"unless"`
	// Match: a proposal whose title contains one of these phrases matches
	// the issue exactly (a deterministic rule, no model).
	Match []string `toml:"match"`
}

// RedLine is something the delegate never votes for: a proposal whose
// title or body contains one of Match is voted Against (or not at all
// where there is no Against), and no decision may vote For while citing
// it.
type RedLine struct {
	ID    string   `toml:"id"`
	About string   `toml:"about"`
	Match []string `toml:"match"`
}

// AutoCast lets a decision be cast without the user's approval.
type AutoCast struct {
	ID string `toml:"id"`
	// Issues: the decision must cite one of these clause ids.
	Issues []string `toml:"issues"`
	// MinConfidence of a model decision (rules count as 1); default 0.8.
	MinConfidence float64 `toml:"min_confidence"`
	// Spaces limits the rule to these Snapshot spaces (empty: all).
	Spaces []string `toml:"spaces"`
	// Governors: an on-chain vote cannot be changed, so it is auto-cast
	// only on a Governor named here.
	Governors []string `toml:"governors"`
	// Exact (the default) also wants the proposal to match a cited issue's
	// own "match" phrases: a model talked into citing a clause the
	// proposal's title does not name drafts instead of casting.
	Exact *bool `toml:"exact"`
}

// IsExact reports whether the rule wants an exact match (the default).
func (r AutoCast) IsExact() bool { return r.Exact == nil || *r.Exact }

// Duration is a TOML string such as "24h" or "90m".
type Duration struct{ time.Duration }

// UnmarshalText reads a Go duration, or a number of days as "2d".
func (d *Duration) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days < 0 {
			return fmt.Errorf("%q is not a duration such as \"24h\" or \"2d\"", s)
		}
		d.Duration = time.Duration(days) * 24 * time.Hour
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 {
		return fmt.Errorf("%q is not a duration such as \"24h\" or \"2d\"", s)
	}
	d.Duration = v
	return nil
}

// MarshalText writes the duration back.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// PolicyError is a policy file that cannot be used: where (Line 0 when
// the problem has no one place) and which field ("issues[1].stance"). A
// type of its own rather than an alias, so errors.As tells it from an agent
// file's error.
type PolicyError tomlfile.Error

func (e *PolicyError) Error() string { return (*tomlfile.Error)(e).Error() }

func (e *PolicyError) Unwrap() error { return e.Err }

// ErrNoPolicy: the policy file does not exist yet.
var ErrNoPolicy = errors.New("no DAO policy yet")

const maxPolicySize = 256 << 10

// LoadPolicy reads and checks the policy file at path. Every problem is a
// *PolicyError naming the line and field; nothing is half-loaded.
func LoadPolicy(path string) (*Policy, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", path, ErrNoPolicy)
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxPolicySize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(data) > maxPolicySize {
		return nil, &PolicyError{Path: path, Err: fmt.Errorf("over %d KiB: is this a policy file?", maxPolicySize>>10)}
	}
	return ParsePolicy(path, data)
}

var (
	clauseRE   = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)
	governorRE = regexp.MustCompile(`^eip155:[0-9]{1,20}:0x[0-9a-fA-F]{40}$`)
	spaceRE    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$`)
	tomlLineRE = regexp.MustCompile(`line (\d+)`)
)

// ParsePolicy is LoadPolicy on the file's bytes.
func ParsePolicy(path string, data []byte) (*Policy, error) {
	lines := policyLines(data)
	fail := func(field string, format string, a ...any) error {
		return &PolicyError{Path: path, Line: lines.of(field), Field: field, Err: fmt.Errorf(format, a...)}
	}
	p := &Policy{Path: path}
	md, err := toml.Decode(string(data), p)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, &PolicyError{Path: path, Line: pe.Position.Line, Field: lines.on(pe.Position.Line), Err: errors.New(pe.Message)}
		}
		line := 0
		if m := tomlLineRE.FindStringSubmatch(err.Error()); m != nil {
			line, _ = strconv.Atoi(m[1])
		}
		msg := err.Error()
		if i := strings.LastIndex(msg, ": "); i >= 0 && line > 0 {
			msg = msg[i+2:] // the rest repeats the line and key
		}
		return nil, &PolicyError{Path: path, Line: line, Field: lines.on(line), Err: errors.New(msg)}
	}
	if und := md.Undecoded(); len(und) > 0 {
		f := lines.name(und[0])
		return nil, fail(f, "unknown field (see `default`, `review_window`, `min_confidence`, `governors`, [snapshot], [[issues]], [[red_lines]], [[auto_cast]])")
	}
	switch p.Default {
	case "":
		p.Default = string(Draft)
	case string(Draft), string(Abstain):
	default:
		return nil, fail("default", "%q: must be \"draft\" or \"abstain\"", p.Default)
	}
	if p.MinConfidence < 0 || p.MinConfidence > 1 {
		return nil, fail("min_confidence", "%v: must be between 0 and 1", p.MinConfidence)
	}
	if p.MinConfidence == 0 {
		p.MinConfidence = 0.6
	}
	if p.Snapshot.Hub == "" {
		p.Snapshot.Hub = DefaultHub
	}
	for field, u := range map[string]string{"snapshot.hub": p.Snapshot.Hub, "snapshot.sequencer": p.Snapshot.Sequencer} {
		if u == "" {
			continue
		}
		if pu, err := url.Parse(u); err != nil || (pu.Scheme != "https" && pu.Scheme != "http") || pu.Host == "" {
			return nil, fail(field, "%q: must be an http(s) URL", u)
		}
	}
	for i, s := range p.Snapshot.Spaces {
		if !spaceRE.MatchString(s) {
			return nil, fail(fmt.Sprintf("snapshot.spaces[%d]", i), "%q is not a Snapshot space id (e.g. \"ens.eth\")", s)
		}
	}
	for i, g := range p.Governors {
		if !governorRE.MatchString(g) {
			return nil, fail(fmt.Sprintf("governors[%d]", i), "%q: write a Governor as eip155:CHAIN_ID:0xADDRESS", g)
		}
	}
	ids := map[string]string{}
	clause := func(field, id string) error {
		if !clauseRE.MatchString(id) {
			return fail(field, "%q: an id is 1 to 64 lower-case letters, digits, - and _", id)
		}
		if id == NoClause {
			return fail(field, "%q is reserved: a decision cites it when no clause applies", id)
		}
		if prev, dup := ids[id]; dup {
			return fail(field, "%q is already the id of %s", id, prev)
		}
		ids[id] = field
		return nil
	}
	for i, is := range p.Issues {
		at := fmt.Sprintf("issues[%d]", i)
		if err := clause(at+".id", is.ID); err != nil {
			return nil, err
		}
		switch is.Stance {
		case StanceFor, StanceAgainst, StanceAbstain:
		default:
			return nil, fail(at+".stance", "%q: must be \"for\", \"against\" or \"abstain\"", is.Stance)
		}
		if strings.TrimSpace(is.About) == "" {
			return nil, fail(at+".about", "say what the issue is about (the model reads it)")
		}
		if err := checkMatch(fail, at+".match", is.Match); err != nil {
			return nil, err
		}
	}
	for i, r := range p.RedLines {
		at := fmt.Sprintf("red_lines[%d]", i)
		if err := clause(at+".id", r.ID); err != nil {
			return nil, err
		}
		if strings.TrimSpace(r.About) == "" {
			return nil, fail(at+".about", "say what is never to be voted for")
		}
		if err := checkMatch(fail, at+".match", r.Match); err != nil {
			return nil, err
		}
	}
	for i := range p.AutoCast {
		r := &p.AutoCast[i]
		at := fmt.Sprintf("auto_cast[%d]", i)
		if r.ID != "" && !clauseRE.MatchString(r.ID) {
			return nil, fail(at+".id", "%q: an id is 1 to 64 lower-case letters, digits, - and _", r.ID)
		}
		if len(r.Issues) == 0 {
			return nil, fail(at+".issues", "name the issue ids this rule casts for")
		}
		for j, id := range r.Issues {
			if _, ok := ids[id]; !ok {
				return nil, fail(fmt.Sprintf("%s.issues[%d]", at, j), "%q is not an issue or red line id in this policy", id)
			}
		}
		if r.MinConfidence < 0 || r.MinConfidence > 1 {
			return nil, fail(at+".min_confidence", "%v: must be between 0 and 1", r.MinConfidence)
		}
		if r.MinConfidence == 0 {
			r.MinConfidence = 0.8
		}
		for j, g := range r.Governors {
			if !governorRE.MatchString(g) {
				return nil, fail(fmt.Sprintf("%s.governors[%d]", at, j), "%q: write a Governor as eip155:CHAIN_ID:0xADDRESS", g)
			}
		}
	}
	return p, nil
}

func checkMatch(fail func(string, string, ...any) error, field string, ms []string) error {
	for j, m := range ms {
		if len(normalize(m)) < 3 {
			return fail(fmt.Sprintf("%s[%d]", field, j), "%q: a phrase to match needs at least 3 letters", m)
		}
	}
	return nil
}

// ClauseIDs are the ids a decision may cite: issues, then red lines.
func (p *Policy) ClauseIDs() []string {
	var out []string
	for _, is := range p.Issues {
		out = append(out, is.ID)
	}
	for _, r := range p.RedLines {
		out = append(out, r.ID)
	}
	return out
}

// Issue finds an issue by id.
func (p *Policy) Issue(id string) (Issue, bool) {
	for _, is := range p.Issues {
		if is.ID == id {
			return is, true
		}
	}
	return Issue{}, false
}

// RedLine finds a red line by id.
func (p *Policy) RedLine(id string) (RedLine, bool) {
	for _, r := range p.RedLines {
		if r.ID == id {
			return r, true
		}
	}
	return RedLine{}, false
}

// Follows reports whether p follows the proposal's space or Governor.
func (p *Policy) Follows(pr Proposal) bool {
	list := p.Snapshot.Spaces
	if pr.Source == SourceGovernor {
		list = p.Governors
	}
	for _, s := range list {
		if strings.EqualFold(s, pr.Space) {
			return true
		}
	}
	return false
}

// policyLines finds the line of each key in a policy file, for errors:
// "issues[1].stance" → its line. The TOML decoder reports lines only for
// syntax errors, so the checks after decoding look theirs up here.
type keyLineMap map[string]int

func policyLines(data []byte) keyLineMap {
	m := keyLineMap{}
	table := ""
	count := map[string]int{}
	for i, raw := range bytes.Split(data, []byte("\n")) {
		line := strings.TrimSpace(string(raw))
		switch {
		case strings.HasPrefix(line, "[["):
			name := strings.TrimSpace(strings.Trim(strings.SplitN(line, "#", 2)[0], "[] \t"))
			table = fmt.Sprintf("%s[%d]", name, count[name])
			count[name]++
			m[table] = i + 1
		case strings.HasPrefix(line, "["):
			table = strings.TrimSpace(strings.Trim(strings.SplitN(line, "#", 2)[0], "[] \t"))
			m[table] = i + 1
		default:
			k, _, ok := strings.Cut(line, "=")
			k = strings.Trim(strings.TrimSpace(k), `"`)
			if !ok || k == "" || strings.HasPrefix(k, "#") {
				continue
			}
			if table != "" {
				k = table + "." + k
			}
			m[k] = i + 1
		}
	}
	return m
}

// of is the line of field, or of the nearest enclosing key.
func (m keyLineMap) of(field string) int {
	for f := field; f != ""; {
		if l, ok := m[f]; ok {
			return l
		}
		if i := strings.LastIndexAny(f, ".["); i > 0 {
			f = f[:i]
		} else {
			break
		}
	}
	return 0
}

// on is the field on line n, if one is.
func (m keyLineMap) on(n int) string {
	best := ""
	for f, l := range m {
		if l == n && len(f) > len(best) {
			best = f
		}
	}
	return best
}

// name turns a key the decoder left over into the file's field form
// (array tables counted: the decoder does not say which one, so the
// first table holding that key is named).
func (m keyLineMap) name(k toml.Key) string {
	if len(k) == 0 {
		return ""
	}
	if len(k) >= 2 {
		for i := 0; ; i++ {
			t := fmt.Sprintf("%s[%d]", k[0], i)
			if _, ok := m[t]; !ok {
				break
			}
			f := t + "." + strings.Join(k[1:], ".")
			if _, ok := m[f]; ok {
				return f
			}
		}
	}
	return k.String()
}

// PolicyTemplate is what `policy new` writes: every field, commented.
const PolicyTemplate = `# sov DAO delegate policy. What you write here is all the delegate may act on:
# proposal text can never change it.

# What happens to a decision no [[auto_cast]] rule covers:
# "draft" (queued for your approval) or "abstain" (nothing is voted).
default = "draft"
# Nothing is cast earlier than this before a proposal ends, so you can look
# and override first (a later Snapshot vote replaces an earlier one).
review_window = "24h"
# A model decision less confident than this abstains instead of guessing.
min_confidence = 0.6
# On-chain Governors followed, as eip155:CHAIN_ID:0xADDRESS.
governors = []

[snapshot]
hub = "https://hub.snapshot.org/graphql"
spaces = ["example.eth"]

# A public rationale log: each vote sov casts (proposal, choice, rationale)
# published as a signed Nostr article with your feeds key (sov feeds keygen),
# to your feeds relays and events file, so anyone can audit the delegate.
[log]
nostr = false

# An issue you have a stance on: "for", "against" or "abstain". Its id is a
# clause decisions cite. A proposal whose title contains one of "match" is an
# exact match, decided by rule without the model.
[[issues]]
id = "public-goods-grants"
stance = "for"
about = "Grants that fund open-source software, research and education as public goods"
match = ["public goods grant"]

[[issues]]
id = "treasury-over-1m"
stance = "against"
about = "Spending more than 1 million dollars from the treasury in one proposal"
unless = "an independent audit is linked"

# Never vote For these: a proposal whose title or body contains a phrase in
# "match" is voted Against (or not at all where there is no Against).
[[red_lines]]
id = "no-token-mint"
about = "Minting new governance tokens or raising the supply cap"
match = ["mint new tokens", "raise the supply cap"]

# Votes cast without asking you: the decision cites one of "issues" and is
# at least min_confidence sure (rules count as 1). On-chain votes cannot be
# changed: they are auto-cast only on a Governor listed in "governors".
# With exact = true (the default) the proposal's title must also contain one
# of the cited issue's "match" phrases, whoever decided.
[[auto_cast]]
id = "grants"
issues = ["public-goods-grants"]
min_confidence = 0.8
exact = true
`

// ErrPolicyExists: policy new would overwrite the user's policy.
var ErrPolicyExists = errors.New("a DAO policy already exists")

// NewPolicyFile writes PolicyTemplate at path (its folder private),
// never over an existing file.
func NewPolicyFile(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("%s: %w", path, ErrPolicyExists)
	}
	if err != nil {
		return err
	}
	if _, err := f.WriteString(PolicyTemplate); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
