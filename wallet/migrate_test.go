package wallet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/sovos/sov/internal/ledger"
)

// writeOldAudit writes entries the way the wallet wrote audit.log before
// the ledger (the old appendAudit): "<sha256 hex> <entry JSON>\n", each
// hash over the previous hash and the entry bytes, from a zero genesis.
func writeOldAudit(t *testing.T, dir string, entries []oldAuditEntry) []byte {
	t.Helper()
	var b []byte
	prev := oldGenesis
	for i, e := range entries {
		e.Seq, e.Prev = uint64(i+1), prev
		body, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		prev = oldChainHash(prev, body)
		b = append(b, prev+" "+string(body)+"\n"...)
	}
	if err := os.WriteFile(filepath.Join(dir, auditFile), b, 0o600); err != nil {
		t.Fatal(err)
	}
	return b
}

const oldPolicy = `{"limits":{"USDC":{"per_day":"5"}}}`

// oldLog is a log as the old code wrote one: a policy change, an allowed
// and a refused payment, a release and a grant revocation.
var oldLog = []oldAuditEntry{
	{Time: "2025-03-01T10:00:00Z", Decision: "policy-changed", Caller: "cli", Kind: "policy", Reason: oldPolicy},
	{Time: "2025-03-01T10:01:00Z", Decision: "allowed", Caller: "cli", Kind: "send", Chain: "eip155:1", Asset: "USDC", Amount: "2", Payee: "0xA", ID: "r1"},
	{Time: "2025-03-01T10:02:00Z", Decision: "refused", Caller: "agent:shop", Grant: "g1", Kind: "pay", Chain: "eip155:1", Asset: "USDC", Amount: "9", Payee: "0xB", Reason: "9 USDC would exceed the daily limit of 5 USDC"},
	{Time: "2025-03-01T10:03:00Z", Decision: "released", Caller: "wallet", Kind: "release", Asset: "USDC", Amount: "2", Payee: "0xA", ID: "r1", Reason: "not broadcast"},
	{Time: "2025-03-01T10:04:00Z", Decision: "grant-revoked", Caller: "tui", Kind: "grant", ID: "g1", Reason: "agent:shop"},
}

func oldLineHashes(b []byte) []string {
	var out []string
	for _, l := range strings.SplitAfter(strings.TrimSuffix(string(b), "\n"), "\n") {
		out = append(out, l[:64])
	}
	return out
}

func TestWalletAuditMigratesIntoTheLedger(t *testing.T) {
	w := testWallet(t)
	ctx := context.Background()
	raw := writeOldAudit(t, w.Dir(), oldLog)
	hashes := oldLineHashes(raw)
	// the first decision migrates the old log before it records itself
	if _, err := w.authorize(ctx, payReq("1", "0xA"), nil); err != nil {
		t.Fatal(err)
	}
	log := audit(t, w)
	if len(log) != len(oldLog)+2 {
		t.Fatalf("%d entries:\n%s", len(log), log)
	}
	want := []map[string]any{
		{"action": "policy-changed", "policy_sha256": ledger.SHA256([]byte(oldPolicy))},
		{"action": "allowed", "request": "send", "chain": "eip155:1", "asset": "USDC", "amount": "2", "payee": "0xA", "reservation": "r1"},
		{"action": "refused", "request": "pay", "grant": "g1", "amount": "9", "payee": "0xB", "reason": oldLog[2].Reason},
		{"action": "released", "reservation": "r1", "reason": "not broadcast", "amount": "2"},
		{"action": "grant-revoked", "grant": "g1", "grant_principal": "agent:shop"},
	}
	for i, e := range log[:len(oldLog)] {
		if e.Principal != oldLog[i].Caller || e.Kind != ledger.KindPermission || e.Signed || e.Fields["migrated"] != true ||
			e.Fields["old_hash"] != hashes[i] || e.Fields["old_seq"] != float64(i+1) || e.Fields["old_time"] != oldLog[i].Time {
			t.Errorf("migrated entry %d: %+v", i, e)
		}
		for k, v := range want[i] {
			if e.Fields[k] != v {
				t.Errorf("migrated entry %d: %s = %v, want %v", i, k, e.Fields[k], v)
			}
		}
		if strings.Contains(fmt.Sprint(e.Fields), `"limits"`) {
			t.Errorf("the policy's text reached the ledger: %v", e.Fields)
		}
	}
	note := log[len(oldLog)]
	if note.Kind != ledger.KindNote || note.Action != "audit-migrated" || note.Fields["entries"] != float64(len(oldLog)) || note.Fields["first_line_not_migrated"] != nil {
		t.Fatalf("migration note %+v", note)
	}
	if e := log[len(log)-1]; e.Action != "allowed" || e.Fields["migrated"] != nil {
		t.Fatalf("the new decision is not last: %+v", e)
	}
	// the old file is kept, byte for byte, under its new name; nothing is
	// migrated twice
	if kept, err := os.ReadFile(filepath.Join(w.Dir(), "audit.log.migrated")); err != nil || string(kept) != string(raw) {
		t.Fatalf("old log not kept: %v", err)
	}
	if n, err := w.MigrateAudit(ctx); n != 0 || err != nil {
		t.Fatalf("second migration: %d %v", n, err)
	}
	// a migration cut short (the file back in place with its entries
	// already in the ledger) adds nothing, and keeps the file again
	os.WriteFile(filepath.Join(w.Dir(), auditFile), raw, 0o600)
	if n, err := w.MigrateAudit(ctx); n != 0 || err != nil {
		t.Fatalf("repeated migration: %d %v", n, err)
	}
	if got := audit(t, w); len(got) != len(log) {
		t.Fatalf("repeated migration wrote %d entries", len(got)-len(log))
	}
	if _, err := os.Stat(filepath.Join(w.Dir(), "audit.log.migrated.1")); err != nil {
		t.Fatal(err)
	}
}

func TestWalletAuditMigratesTheVerifiedPrefixOfADamagedLog(t *testing.T) {
	for _, tc := range []struct {
		name    string
		damage  func(b []byte) []byte
		line    int
		problem string
	}{
		{"altered entry", func(b []byte) []byte {
			return []byte(strings.Replace(string(b), `"amount":"9"`, `"amount":"1"`, 1))
		}, 3, "hash mismatch"},
		{"dropped line", func(b []byte) []byte {
			ls := strings.SplitAfter(string(b), "\n")
			return []byte(ls[0] + ls[1] + ls[3] + ls[4])
		}, 3, "hash mismatch"},
		{"torn tail", func(b []byte) []byte { return b[:len(b)-20] }, 5, "truncated line"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := testWallet(t)
			raw := tc.damage(writeOldAudit(t, w.Dir(), oldLog))
			os.WriteFile(filepath.Join(w.Dir(), auditFile), raw, 0o600)
			n, err := w.MigrateAudit(context.Background())
			var me *AuditMigrationError
			if !errors.As(err, &me) || n != tc.line-1 || me.Migrated != tc.line-1 || me.Line != tc.line || !strings.Contains(me.Problem, tc.problem) ||
				me.Kept != filepath.Join(w.Dir(), "audit.log.migrated") || !strings.Contains(err.Error(), fmt.Sprintf("damaged at line %d", tc.line)) {
				t.Fatalf("migrated %d: %v", n, err)
			}
			log := audit(t, w)
			if len(log) != tc.line {
				t.Fatalf("%d entries:\n%s", len(log), log)
			}
			if note := log[len(log)-1]; note.Fields["first_line_not_migrated"] != float64(tc.line) || !strings.Contains(note.String(), "not migrated from line") {
				t.Fatalf("note %s", note)
			}
			if kept, err := os.ReadFile(me.Kept); err != nil || string(kept) != string(raw) {
				t.Fatalf("damaged log not kept: %v", err)
			}
			// said once: the next call finds nothing to migrate
			if n, err := w.MigrateAudit(context.Background()); n != 0 || err != nil {
				t.Fatalf("again: %d %v", n, err)
			}
		})
	}
}

// TestWalletAuditMigratesOnceUnderConcurrentFirstOpens: processes (this
// test binary re-executed) and goroutines open the same wallet at once;
// the old log is migrated exactly once.
func TestWalletAuditMigratesOnceUnderConcurrentFirstOpens(t *testing.T) {
	if dir := os.Getenv("SOV_TEST_WALLET_MIGRATE_CHILD"); dir != "" {
		n, err := New(dir, WithLedger(ledger.Open(os.Getenv("SOV_TEST_WALLET_LEDGER")))).MigrateAudit(context.Background())
		fmt.Println("MIGRATED", n, err)
		return
	}
	lg := t.TempDir()
	w := testWallet(t, WithLedger(ledger.Open(lg)))
	writeOldAudit(t, w.Dir(), oldLog)
	var mu sync.Mutex
	total := 0
	add := func(out string) {
		mu.Lock()
		defer mu.Unlock()
		var n int
		var rest string
		if _, err := fmt.Sscanf(out, "MIGRATED %d %s", &n, &rest); err != nil || rest != "<nil>" {
			t.Errorf("child: %q", out)
		}
		total += n
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i%2 == 0 {
				n, err := New(w.Dir(), WithLedger(ledger.Open(lg))).MigrateAudit(context.Background())
				add("MIGRATED " + strconv.Itoa(n) + " " + fmt.Sprint(err))
				return
			}
			cmd := exec.Command(os.Args[0], "-test.run=^TestWalletAuditMigratesOnceUnderConcurrentFirstOpens$")
			cmd.Env = append(os.Environ(), "SOV_TEST_WALLET_MIGRATE_CHILD="+w.Dir(), "SOV_TEST_WALLET_LEDGER="+lg)
			out, _ := cmd.Output()
			for _, l := range strings.Split(string(out), "\n") {
				if strings.HasPrefix(l, "MIGRATED") {
					add(l)
				}
			}
		}()
	}
	wg.Wait()
	if log := audit(t, w); total != len(oldLog) || len(log) != len(oldLog)+1 {
		t.Fatalf("migrated %d in all, %d entries:\n%s", total, len(log), log)
	}
}

// TestWalletOldAuditChainCatchesEveryFlippedByte: what migration trusts of
// an old log is exactly what its chain verifies.
func TestWalletOldAuditChainCatchesEveryFlippedByte(t *testing.T) {
	orig := writeOldAudit(t, t.TempDir(), oldLog[:3])
	if good, bad, _ := readOldAudit(orig); len(good) != 3 || bad != 0 {
		t.Fatalf("clean log: %d verified, bad line %d", len(good), bad)
	}
	for i := range orig {
		b := append([]byte(nil), orig...)
		b[i] ^= 0x01
		if good, bad, _ := readOldAudit(b); bad == 0 || len(good) == 3 {
			t.Fatalf("flip at byte %d (%q) undetected", i, orig[i])
		}
	}
}
