// Package nostr implements the parts of Nostr (NIP-01, NIP-19, NIP-23) that
// sov's verified feeds need: a strict event parser, the canonical
// serialization, id recomputation and BIP-340 Schnorr verification.
//
// Parsing is strict on purpose: an event that a lenient decoder would
// silently "repair" (invalid UTF-8, lone surrogates, duplicate keys, numbers
// with fractions) could verify here and read differently elsewhere.
package nostr

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// MaxEventSize caps one serialized event. Long-form articles are far
// smaller; anything bigger is treated as hostile.
const MaxEventSize = 1 << 20

// Kinds sov understands.
const (
	KindMetadata  = 0 // NIP-01 profile
	KindShortNote = 1
	KindDeletion  = 5 // NIP-09
	KindArticle   = 30023
)

// Event is a Nostr event (NIP-01).
type Event struct {
	ID        string     `json:"id"`
	PubKey    string     `json:"pubkey"`
	CreatedAt int64      `json:"created_at"`
	Kind      int        `json:"kind"`
	Tags      [][]string `json:"tags"`
	Content   string     `json:"content"`
	Sig       string     `json:"sig"`
}

// ErrMalformed wraps every parse failure so callers can count them as one
// rejection reason.
var ErrMalformed = errors.New("malformed event")

// Verification failures.
var (
	ErrIDMismatch   = errors.New("id mismatch")
	ErrBadSignature = errors.New("bad signature")
)

func malformed(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, a...))
}

// Parse decodes one event strictly: valid UTF-8, no duplicate or missing
// fields, exact JSON types, lowercase hex of the right length, no escape that
// decodes to something other than what it says (lone surrogates), at most
// MaxEventSize bytes. Unknown fields are ignored, as NIP-01 allows.
func Parse(data []byte) (*Event, error) {
	if len(data) > MaxEventSize {
		return nil, malformed("event is %d bytes, over the %d-byte cap", len(data), MaxEventSize)
	}
	if !utf8.Valid(data) {
		return nil, malformed("invalid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, malformed("%v", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, malformed("not a JSON object")
	}
	var ev Event
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, malformed("%v", err)
		}
		key, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, malformed("field %q: %v", key, err)
		}
		if seen[key] {
			return nil, malformed("duplicate field %q", key)
		}
		seen[key] = true
		if err := ev.setField(key, raw); err != nil {
			return nil, err
		}
	}
	if _, err := dec.Token(); err != nil { // closing brace
		return nil, malformed("%v", err)
	}
	if _, err := dec.Token(); err == nil {
		return nil, malformed("trailing data after the event")
	}
	for _, k := range []string{"id", "pubkey", "created_at", "kind", "tags", "content", "sig"} {
		if !seen[k] {
			return nil, malformed("missing field %q", k)
		}
	}
	return &ev, nil
}

func (ev *Event) setField(key string, raw json.RawMessage) error {
	switch key {
	case "id":
		return parseHexField(raw, 32, &ev.ID, key)
	case "pubkey":
		return parseHexField(raw, 32, &ev.PubKey, key)
	case "sig":
		return parseHexField(raw, 64, &ev.Sig, key)
	case "created_at":
		n, err := parseInt(raw, key)
		if err != nil {
			return err
		}
		if n < 0 {
			return malformed("created_at is negative")
		}
		ev.CreatedAt = n
	case "kind":
		n, err := parseInt(raw, key)
		if err != nil {
			return err
		}
		if n < 0 || n > 65535 {
			return malformed("kind %d out of range 0..65535", n)
		}
		ev.Kind = int(n)
	case "content":
		s, err := parseString(raw, key)
		if err != nil {
			return err
		}
		ev.Content = s
	case "tags":
		if !bytes.HasPrefix(bytes.TrimSpace(raw), []byte("[")) {
			return malformed("tags must be an array of arrays of strings")
		}
		var rawTags []json.RawMessage
		if err := json.Unmarshal(raw, &rawTags); err != nil {
			return malformed("tags: %v", err)
		}
		ev.Tags = make([][]string, 0, len(rawTags))
		for i, rt := range rawTags {
			if !bytes.HasPrefix(bytes.TrimSpace(rt), []byte("[")) {
				return malformed("tag %d is not an array of strings", i)
			}
			var rawItems []json.RawMessage
			if err := json.Unmarshal(rt, &rawItems); err != nil {
				return malformed("tag %d: %v", i, err)
			}
			tag := make([]string, len(rawItems))
			for j, ri := range rawItems {
				s, err := parseString(ri, "tags")
				if err != nil {
					return err
				}
				tag[j] = s
			}
			ev.Tags = append(ev.Tags, tag)
		}
	}
	return nil
}

func parseInt(raw json.RawMessage, key string) (int64, error) {
	s := string(bytes.TrimSpace(raw))
	for i, c := range s {
		if !(c >= '0' && c <= '9' || c == '-' && i == 0) {
			return 0, malformed("%s must be an integer, got %.40s", key, s)
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, malformed("%s: %v", key, err)
	}
	return n, nil
}

// parseString decodes a JSON string, rejecting escapes that encoding/json
// would silently replace with U+FFFD (lone or mispaired surrogates).
func parseString(raw json.RawMessage, key string) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) < 2 || raw[0] != '"' {
		return "", malformed("%s must be a string", key)
	}
	if err := checkSurrogates(raw); err != nil {
		return "", malformed("%s: %v", key, err)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", malformed("%s: %v", key, err)
	}
	return s, nil
}

func checkSurrogates(raw []byte) error {
	for i := 0; i < len(raw); i++ {
		if raw[i] != '\\' {
			continue
		}
		if i+1 < len(raw) && raw[i+1] != 'u' {
			i++ // skip the escaped character (may itself be a backslash)
			continue
		}
		if i+6 > len(raw) {
			return errors.New("truncated \\u escape")
		}
		r, err := strconv.ParseUint(string(raw[i+2:i+6]), 16, 32)
		if err != nil {
			return errors.New("bad \\u escape")
		}
		switch {
		case r >= 0xD800 && r < 0xDC00: // high surrogate: a low one must follow
			if i+12 > len(raw) || raw[i+6] != '\\' || raw[i+7] != 'u' {
				return errors.New("unpaired surrogate escape")
			}
			lo, err := strconv.ParseUint(string(raw[i+8:i+12]), 16, 32)
			if err != nil || lo < 0xDC00 || lo > 0xDFFF {
				return errors.New("unpaired surrogate escape")
			}
			i += 11
		case r >= 0xDC00 && r <= 0xDFFF:
			return errors.New("unpaired surrogate escape")
		default:
			i += 5
		}
	}
	return nil
}

func parseHexField(raw json.RawMessage, n int, dst *string, key string) error {
	s, err := parseString(raw, key)
	if err != nil {
		return err
	}
	if len(s) != 2*n {
		return malformed("%s must be %d lowercase hex characters", key, 2*n)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return malformed("%s must be lowercase hex", key)
		}
	}
	*dst = s
	return nil
}

// Serialize returns the NIP-01 canonical serialization
// [0,pubkey,created_at,kind,tags,content] whose SHA-256 is the id.
func (ev *Event) Serialize() []byte {
	b := make([]byte, 0, 128+len(ev.Content)+64*len(ev.Tags))
	b = append(b, `[0,"`...)
	b = append(b, ev.PubKey...)
	b = append(b, `",`...)
	b = strconv.AppendInt(b, ev.CreatedAt, 10)
	b = append(b, ',')
	b = strconv.AppendInt(b, int64(ev.Kind), 10)
	b = append(b, ',')
	b = appendTags(b, ev.Tags)
	b = append(b, ',')
	b = appendString(b, ev.Content)
	b = append(b, ']')
	return b
}

// appendString escapes exactly as NIP-01 prescribes: \" \\ \n \r \t \b \f,
// other control characters as \u00XX, everything else verbatim UTF-8. (Go's
// json.Marshal would also escape <, >, & and U+2028, changing the id.)
func appendString(b []byte, s string) []byte {
	const hexd = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"':
			b = append(b, '\\', '"')
		case '\\':
			b = append(b, '\\', '\\')
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		case '\b':
			b = append(b, '\\', 'b')
		case '\f':
			b = append(b, '\\', 'f')
		default:
			b = append(b, '\\', 'u', '0', '0', hexd[c>>4], hexd[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// ComputeID is the SHA-256 of the canonical serialization.
func (ev *Event) ComputeID() [32]byte { return sha256.Sum256(ev.Serialize()) }

// CheckID reports ErrIDMismatch when the claimed id is not the hash of the
// event's canonical serialization.
func (ev *Event) CheckID() error {
	id := ev.ComputeID()
	if hex.EncodeToString(id[:]) != ev.ID {
		return ErrIDMismatch
	}
	return nil
}

// Verify checks the id and then the BIP-340 signature over it. Both must
// hold: a valid signature over some other id is not enough.
func (ev *Event) Verify() error {
	id := ev.ComputeID()
	var claimed [32]byte
	if _, err := hex.Decode(claimed[:], []byte(ev.ID)); err != nil || claimed != id {
		return ErrIDMismatch
	}
	var pub [32]byte
	var sig [64]byte
	if _, err := hex.Decode(pub[:], []byte(ev.PubKey)); err != nil {
		return ErrBadSignature
	}
	if _, err := hex.Decode(sig[:], []byte(ev.Sig)); err != nil {
		return ErrBadSignature
	}
	if !VerifySchnorr(pub[:], id[:], sig[:]) {
		return ErrBadSignature
	}
	return nil
}

// Marshal returns the event as compact JSON with NIP-01 string escaping.
func (ev *Event) Marshal() []byte {
	b := make([]byte, 0, 300+len(ev.Content))
	b = append(b, `{"id":"`...)
	b = append(b, ev.ID...)
	b = append(b, `","pubkey":"`...)
	b = append(b, ev.PubKey...)
	b = append(b, `","created_at":`...)
	b = strconv.AppendInt(b, ev.CreatedAt, 10)
	b = append(b, `,"kind":`...)
	b = strconv.AppendInt(b, int64(ev.Kind), 10)
	b = append(b, `,"tags":`...)
	b = appendTags(b, ev.Tags)
	b = append(b, `,"content":`...)
	b = appendString(b, ev.Content)
	b = append(b, `,"sig":"`...)
	b = append(b, ev.Sig...)
	b = append(b, `"}`...)
	return b
}

// Tag returns the first value of the first tag named name, or "".
func (ev *Event) Tag(name string) string {
	for _, t := range ev.Tags {
		if len(t) >= 2 && t[0] == name {
			return t[1]
		}
	}
	return ""
}

// TagValues returns the first value of every tag named name.
func (ev *Event) TagValues(name string) []string {
	var out []string
	for _, t := range ev.Tags {
		if len(t) >= 2 && t[0] == name {
			out = append(out, t[1])
		}
	}
	return out
}

// IsReplaceable reports whether only the newest event per (pubkey, kind)
// is kept (NIP-01: kinds 0, 3, 10000–19999).
func IsReplaceable(kind int) bool {
	return kind == 0 || kind == 3 || kind >= 10000 && kind < 20000
}

// IsAddressable reports whether only the newest event per
// (pubkey, kind, d-tag) is kept (NIP-01: kinds 30000–39999, e.g. 30023).
func IsAddressable(kind int) bool { return kind >= 30000 && kind < 40000 }

// ReplaceKey identifies the slot a replaceable event competes for, or "" if
// the event is not replaceable.
func (ev *Event) ReplaceKey() string {
	switch {
	case IsReplaceable(ev.Kind):
		return ev.PubKey + ":" + strconv.Itoa(ev.Kind) + ":"
	case IsAddressable(ev.Kind):
		return ev.PubKey + ":" + strconv.Itoa(ev.Kind) + ":" + ev.Tag("d")
	}
	return ""
}

// Newer reports whether a supersedes b in a replaceable slot: later
// created_at wins; on a tie the lowest id wins (NIP-01).
func Newer(a, b *Event) bool {
	if a.CreatedAt != b.CreatedAt {
		return a.CreatedAt > b.CreatedAt
	}
	return a.ID < b.ID
}

// ParseCanonical rebuilds an event (without id and sig) from its canonical
// serialization [0,pubkey,created_at,kind,tags,content], as stored in a
// content-addressed block. The caller sets ID from the block's digest and
// Sig from elsewhere; CheckID then proves the bytes were canonical.
func ParseCanonical(data []byte) (*Event, error) {
	if len(data) > MaxEventSize {
		return nil, malformed("canonical event is %d bytes, over the %d-byte cap", len(data), MaxEventSize)
	}
	if !utf8.Valid(data) {
		return nil, malformed("invalid UTF-8")
	}
	var parts []json.RawMessage
	if err := json.Unmarshal(data, &parts); err != nil || len(parts) != 6 {
		return nil, malformed("not a canonical event array")
	}
	if string(bytes.TrimSpace(parts[0])) != "0" {
		return nil, malformed("canonical event must start with 0")
	}
	var ev Event
	for i, key := range []string{"", "pubkey", "created_at", "kind", "tags", "content"} {
		if i == 0 {
			continue
		}
		if err := ev.setField(key, parts[i]); err != nil {
			return nil, err
		}
	}
	if ev.Tags == nil {
		return nil, malformed("tags missing")
	}
	return &ev, nil
}

// appendTags appends tags as a JSON array of arrays of strings.
func appendTags(b []byte, tags [][]string) []byte {
	b = append(b, '[')
	for i, tag := range tags {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '[')
		for j, s := range tag {
			if j > 0 {
				b = append(b, ',')
			}
			b = appendString(b, s)
		}
		b = append(b, ']')
	}
	return append(b, ']')
}
