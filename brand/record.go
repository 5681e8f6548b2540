package brand

import (
	"context"

	"github.com/sovos/sov/internal/ledger"
)

// Record writes a brand exchange to the ledger, by hashes: the request,
// the answer and the signed statement, with the brand's key, the
// payment and whether the signature verified. An unverified answer is
// recorded as such, with the reason.
func Record(ctx context.Context, l *ledger.Ledger, s *ledger.Signer, principal string, a Announcement, r Result) (ledger.Entry, error) {
	subjects := map[string]string{"request": r.Request}
	if r.Answer.Answer != "" {
		subjects["answer"] = ledger.SHA256([]byte(r.Answer.Answer))
		if c, err := r.Answer.Statement.Canonical(); err == nil {
			subjects["statement"] = ledger.SHA256(c)
		}
	}
	fields := map[string]any{
		"tool":        ToolAsk,
		"brand":       a.Name,
		"npub":        a.Npub,
		"brand_key":   a.Key,
		"endpoint":    a.Endpoint,
		"verified":    r.Verified,
		"transaction": r.Settlement.Transaction,
		"network":     r.Settlement.Network,
		"amount":      r.Payment.Amount,
		"payment_key": r.Payment.Key,
	}
	if r.Answer.Model != "" {
		fields["model_sha256"] = r.Answer.Model
	}
	if r.Problem != "" {
		fields["problem"] = r.Problem
	}
	if r.Answer.Session != "" {
		fields["session"] = r.Answer.Session
		if r.Answer.Remaining != nil {
			fields["remaining"] = *r.Answer.Remaining
		}
	}
	return l.Append(ctx, ledger.Record{Kind: ledger.KindTool, Principal: principal, Subjects: subjects, Fields: fields}, s)
}
