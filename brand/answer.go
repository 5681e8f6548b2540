package brand

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/gowebpki/jcs"
)

// Statement is what a brand signs for each paid answer: the request, the
// answer itself, the model that produced it and the settlement that paid
// for it. Its signed form is RFC 8785 canonical JSON.
type Statement struct {
	Request     string `json:"request"`     // RequestHash of the call
	Answer      string `json:"answer"`      // the answer text, verbatim
	Model       string `json:"model"`       // sha256 hex of the model file
	Transaction string `json:"transaction"` // the settlement transaction
	// In a prepaid session: the session, and the answers left in it after
	// this one (the transaction is then the session's deposit).
	Session   string `json:"session,omitempty"`
	Remaining *int   `json:"remaining,omitempty"`
}

// Canonical is the statement as RFC 8785 JSON: the bytes signed.
func (s Statement) Canonical() ([]byte, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	return jcs.Transform(b)
}

// Answer is a paid answer as a brand returns it.
type Answer struct {
	Statement
	Network   string `json:"network"`
	Payer     string `json:"payer"`
	Key       string `json:"key"`       // the brand's ed25519 public key, base64
	Signature string `json:"signature"` // ed25519 over Canonical(), base64
}

// RequestHash is the sha256 (hex) of a call as canonical JSON: what the
// brand's signature binds the answer to.
func RequestHash(tool string, args map[string]any) string {
	b, _ := json.Marshal(struct {
		Tool string         `json:"tool"`
		Args map[string]any `json:"arguments"`
	}{tool, args})
	if c, err := jcs.Transform(b); err == nil {
		b = c
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Sign signs st with key.
func Sign(key ed25519.PrivateKey, st Statement) (Answer, error) {
	msg, err := st.Canonical()
	if err != nil {
		return Answer{}, err
	}
	pub := key.Public().(ed25519.PublicKey)
	return Answer{Statement: st, Key: base64.StdEncoding.EncodeToString(pub),
		Signature: base64.StdEncoding.EncodeToString(ed25519.Sign(key, msg))}, nil
}

// ErrUnverified is an answer whose signature does not verify under the
// brand's announced key, or that was signed for another request or
// settlement than the one made.
var ErrUnverified = errors.New("the brand's signature over this answer does not verify")

// Verify checks a's signature under pub (the key the brand announced:
// the key a carries is not trusted) and that it answers request.
func (a Answer) Verify(pub ed25519.PublicKey, request string) error {
	if len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("%w: no brand key", ErrUnverified)
	}
	sig, err := base64.StdEncoding.DecodeString(a.Signature)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return fmt.Errorf("%w: malformed signature", ErrUnverified)
	}
	msg, err := a.Statement.Canonical()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnverified, err)
	}
	if !ed25519.Verify(pub, msg, sig) {
		return ErrUnverified
	}
	if a.Request != request {
		return fmt.Errorf("%w: it was signed for request %.12s…, not this one (%.12s…)", ErrUnverified, a.Request, request)
	}
	return nil
}

// ParseKey reads a base64 ed25519 public key.
func ParseKey(s string) (ed25519.PublicKey, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%q is not a base64 ed25519 public key", s)
	}
	return ed25519.PublicKey(b), nil
}
