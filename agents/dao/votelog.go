package dao

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/sovos/sov/internal/termtext"
)

// Log is the policy's [log] table: what the delegate makes public.
type Log struct {
	// Nostr publishes each vote sov casts (the proposal, the choice and
	// the rationale) as a signed long-form Nostr article through feeds,
	// so anyone can audit the delegate's history. Off by default: votes
	// are public on Snapshot and on chain, but the user's reasons need
	// not be.
	Nostr bool `toml:"nostr"`
}

// VoteNote is one vote as the public rationale log shows it: an article
// whose slug is the same for every vote on a proposal, so a later vote (an
// override on Snapshot) replaces the earlier one on relays.
type VoteNote struct {
	Slug, Title, Body string
	Topics            []string
}

// NewVoteNote writes the log entry for vote v on p with rationale. The
// proposal's title is the hub's or the chain's text: it is cleaned of
// control characters, and the body marks it as quoted.
func NewVoteNote(p Proposal, v VoteRecord, rationale string) VoteNote {
	h := sha256.Sum256([]byte(p.Key()))
	title := termtext.Clean(p.Title)
	if len(title) > 120 {
		title = title[:120] + "…"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Vote on %s proposal `%s` in `%s`.\n\n", p.Source, termtext.Clean(p.ID), termtext.Clean(p.Space))
	fmt.Fprintf(&b, "> %s\n\n", title)
	fmt.Fprintf(&b, "- choice: %s\n", termtext.Clean(v.Choice.Label(p)))
	fmt.Fprintf(&b, "- cast by: %s (%s)\n", v.By, map[string]string{"auto": "an auto_cast rule of the policy", "user": "the user"}[v.By])
	fmt.Fprintf(&b, "- at: %s\n", v.At.UTC().Format(time.RFC3339))
	if v.Signer != "" {
		fmt.Fprintf(&b, "- signer: %s\n", termtext.Clean(v.Signer))
	}
	if v.ID != "" {
		fmt.Fprintf(&b, "- receipt: %s\n", termtext.Clean(v.ID))
	}
	fmt.Fprintf(&b, "\n%s\n", termtext.Clean(rationale))
	return VoteNote{
		Slug:   "sov-dao-vote-" + hex.EncodeToString(h[:8]),
		Title:  "Vote: " + title,
		Body:   b.String(),
		Topics: []string{"sov-dao", "dao-vote"},
	}
}
