package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sovos/sov/wallet"
	"github.com/sovos/sov/wallet/wallettest"
)

const walletTestAbandon = wallettest.Abandon

var walletTestEnv = []string{"SOV_WALLET_PASSPHRASE=correct horse battery"}

func TestWalletImportAddressesAcceptance(t *testing.T) {
	home := t.TempDir()
	// split over two lines, as when pasted from a two-line backup: all of
	// it is read, not just the first line
	words := strings.Fields(walletTestAbandon)
	split := strings.Join(words[:6], " ") + "\n" + strings.Join(words[6:], " ") + "\n"
	r := runSov(t, home, walletTestEnv, split, "wallet", "import")
	if r.Code != 0 {
		t.Fatalf("import: %d %s", r.Code, r.Stderr)
	}
	r = runSov(t, home, nil, "", "wallet", "addresses", "--json")
	if r.Code != 0 {
		t.Fatalf("addresses: %d %s", r.Code, r.Stderr)
	}
	var got struct{ EVM, Bitcoin, Solana string }
	if err := json.Unmarshal([]byte(r.Stdout), &got); err != nil {
		t.Fatalf("%v: %s", err, r.Stdout)
	}
	want := struct{ EVM, Bitcoin, Solana string }{
		"0x9858EfFD232B4033E47d90003D41EC34EcaEda94",
		"bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu",
		"HAgk14JpMQLgt6rVgv7cBQFJWFto5Dqxi472uT3DKpqk",
	}
	if got != want {
		t.Fatalf("addresses %+v", got)
	}
	// another index needs the passphrase, and BIP84 vector row 0/1 holds
	r = runSov(t, home, walletTestEnv, "", "wallet", "addresses", "--json", "--index", "1")
	if r.Code != 0 || !strings.Contains(r.Stdout, "bc1qnjg0jd8228aq7egyzacy8cys3knf9xvrerkf9g") {
		t.Fatalf("index 1: %d %s %s", r.Code, r.Stdout, r.Stderr)
	}
	r = runSov(t, home, nil, "", "wallet", "addresses", "--index", "1")
	if r.Code == 0 || !strings.Contains(r.Stderr, "SOV_WALLET_PASSPHRASE") {
		t.Fatalf("index 1 without passphrase: %d %s", r.Code, r.Stderr)
	}
}

func TestWalletBadInput(t *testing.T) {
	home := t.TempDir()
	tests := []struct {
		name    string
		env     []string
		stdin   string
		args    []string
		code    int
		errLike string
	}{
		{"unknown word", walletTestEnv, strings.Replace(walletTestAbandon, "abandon", "abandn", 1) + "\n", []string{"wallet", "import"}, 1, `word 1 "abandn"`},
		{"bad checksum", walletTestEnv, strings.Repeat("abandon ", 12) + "\n", []string{"wallet", "import"}, 1, "checksum"},
		{"no mnemonic", walletTestEnv, "", []string{"wallet", "import"}, 1, "no mnemonic on stdin"},
		{"no wallet", walletTestEnv, "", []string{"wallet", "reveal"}, 1, "sov wallet init"},
		{"stray arg", nil, "", []string{"wallet", "addresses", "extra"}, 2, "usage: sov wallet addresses"},
		{"unknown command", nil, "", []string{"wallet", "adresses"}, 2, `unknown command "adresses" (see sov wallet --help)`},
		{"no hash", nil, "", []string{"wallet", "speedup"}, 2, "needs the transaction hash: usage: sov wallet speedup TXHASH"},
		{"no grant", nil, "", []string{"wallet", "grants", "revoke"}, 2, "usage: sov wallet grants revoke ID"},
		{"sign both", nil, "", []string{"wallet", "sign", "hi", "--typed-data", "x.json"}, 2, "sov wallet sign --typed-data FILE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runSov(t, home, tt.env, tt.stdin, tt.args...)
			if r.Code != tt.code || !strings.Contains(r.Stderr, tt.errLike) || strings.Count(strings.TrimSpace(r.Stderr), "\n") != 0 {
				t.Fatalf("code %d stderr %q", r.Code, r.Stderr)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(home, "wallet", "seed.sealed")); err == nil {
		t.Fatal("a bad import left a wallet behind")
	}
}

// TestWalletHint pins the CLI's way out of the library's errors: the hint,
// and exit 2 for those that mean sov was called wrong.
func TestWalletHint(t *testing.T) {
	tests := []struct {
		err   error
		want  string
		usage bool
	}{
		{wallet.ErrNoWallet, "no wallet yet: run `sov wallet init` or `sov wallet import`", false},
		{fmt.Errorf("reveal: %w", wallet.ErrWrongPassphrase), "reveal: wrong wallet passphrase (nothing was changed): try again", false},
		{&wallet.WordMismatchError{Position: 3}, "word #3 does not match: run `sov wallet init` again", false},
		{wallet.ErrWordCount, "12 or 24 words: pass --words 12 or --words 24", true},
		{&wallet.UnknownNetworkError{Name: "x"}, `unknown network "x": see ` + "`sov wallet networks`", true},
		{wallet.ErrNoRecipient, "the recipient app it is for: pass --recipient APP", true},
		{fmt.Errorf("%w: bad family", wallet.ErrInvalidMessage), "invalid message: bad family", true},
		{fmt.Errorf("%w: bad amount", wallet.ErrInvalidTransfer), "invalid transfer: bad amount", true},
		{&wallet.NoRPCError{Network: "regtest", Family: wallet.FamilyBitcoin}, "sov wallet networks add regtest --family bitcoin --rpc http://user:pass@host:port", false},
		{&wallet.NoRPCError{Network: "base", Family: wallet.FamilyEVM}, "add one with `sov wallet networks add base --rpc URL`", false},
		{&wallet.RefusedError{Rule: wallet.RuleApproval, Reason: "above 1 ETH", Headless: true}, "(headless: run it in a terminal, where you approve by typing the wallet passphrase)", false},
		{&wallet.RefusedError{Rule: wallet.RuleAllowList, Reason: "not listed"}, "not listed: allow the payee with `sov wallet policy --allow PAYEE`", false},
		{&wallet.RefusedError{Rule: wallet.RulePerDay, Reason: "over the daily limit"}, "over the daily limit", false},
		{errors.New("other"), "other", false},
	}
	for _, tt := range tests {
		got := walletHint(tt.err)
		if !strings.Contains(got.Error(), tt.want) || !errors.Is(got, tt.err) || errors.As(got, new(usageError)) != tt.usage {
			t.Errorf("walletHint(%v) = %q (usage %v), want %q (usage %v)", tt.err, got, errors.As(got, new(usageError)), tt.want, tt.usage)
		}
	}
	if walletHint(nil) != nil {
		t.Error("walletHint(nil) is not nil")
	}
}

func TestWalletRevealNeedsPassphrase(t *testing.T) {
	home := t.TempDir()
	if r := runSov(t, home, walletTestEnv, walletTestAbandon+"\n", "wallet", "import"); r.Code != 0 {
		t.Fatal(r.Stderr)
	}
	r := runSov(t, home, []string{"SOV_WALLET_PASSPHRASE=wrong"}, "", "wallet", "reveal")
	if r.Code != 1 || !strings.Contains(r.Stderr, "wrong wallet passphrase") || strings.Contains(r.Stdout, "abandon") {
		t.Fatalf("wrong passphrase: %d %q %q", r.Code, r.Stdout, r.Stderr)
	}
	pf := filepath.Join(t.TempDir(), "pass")
	os.WriteFile(pf, []byte("correct horse battery\n"), 0o600)
	r = runSov(t, home, nil, "", "wallet", "reveal", "--passphrase-file", pf)
	if r.Code != 0 || strings.TrimSpace(r.Stdout) != walletTestAbandon {
		t.Fatalf("reveal: %d %q %q", r.Code, r.Stdout, r.Stderr)
	}
	// importing over an existing wallet needs --force
	r = runSov(t, home, walletTestEnv, walletTestAbandon+"\n", "wallet", "import")
	if r.Code != 1 || !strings.Contains(r.Stderr, "--force") {
		t.Fatalf("re-import: %d %q", r.Code, r.Stderr)
	}
}

// TestWalletInitConfirmsWords drives `sov wallet init` like a user: read the
// words it shows, answer the three word checks on stdin.
func TestWalletInitConfirmsWords(t *testing.T) {
	home := t.TempDir()
	cmd := exec.Command(sovBin, "wallet", "init", "--words", "12")
	cmd.Env = append(cleanEnv(), "SOV_HOME="+home, walletTestEnv[0])
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	words := map[int]string{}
	sc := bufio.NewScanner(stdout)
	line := regexp.MustCompile(`^\s*(\d+)\. ([a-z]+)$`)
	for len(words) < 12 && sc.Scan() {
		if m := line.FindStringSubmatch(sc.Text()); m != nil {
			n, _ := strconv.Atoi(m[1])
			words[n] = m[2]
		}
	}
	ask := regexp.MustCompile(`Confirm word #(\d+): `)
	buf := make([]byte, 256)
	var pending string
	for answered := 0; answered < 3; {
		n, err := stderr.Read(buf)
		if err != nil {
			t.Fatalf("stderr: %v (%q)", err, pending)
		}
		pending += string(buf[:n])
		for _, m := range ask.FindAllStringSubmatch(pending, -1) {
			i, _ := strconv.Atoi(m[1])
			io.WriteString(stdin, words[i]+"\n")
			answered++
		}
		pending = ask.ReplaceAllString(pending, "")
	}
	rest, _ := io.ReadAll(stdout)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil || !strings.Contains(string(rest), "Wallet created") {
			t.Fatalf("init: %v %s", err, rest)
		}
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatal("init hung")
	}
	mn := make([]string, 12)
	for i := 1; i <= 12; i++ {
		mn[i-1] = words[i]
	}
	r := runSov(t, home, walletTestEnv, "", "wallet", "reveal")
	if strings.TrimSpace(r.Stdout) != strings.Join(mn, " ") {
		t.Fatalf("reveal %q", r.Stdout)
	}
	walletCanaryCheck(t, home, strings.Join(mn, " "))

	// a wrong confirmation saves nothing
	home2 := t.TempDir()
	r = runSov(t, home2, walletTestEnv, "zzz\nzzz\nzzz\n", "wallet", "init")
	if r.Code != 1 || !strings.Contains(r.Stderr, "nothing was saved") {
		t.Fatalf("wrong word: %d %s", r.Code, r.Stderr)
	}
	if _, err := os.Stat(filepath.Join(home2, "wallet", "seed.sealed")); err == nil {
		t.Fatal("seed saved despite failed confirmation")
	}
}

// walletCanaryFindings lists every (secret, file) where a secret form of
// the mnemonic's keys appears under home.
func walletCanaryFindings(t *testing.T, home, mnemonic string) (findings []string, scanned int) {
	t.Helper()
	secrets := wallettest.Secrets(t, mnemonic)
	filepath.WalkDir(home, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		scanned++
		low := strings.ToLower(string(b))
		for _, s := range secrets {
			if strings.Contains(low, strings.ToLower(s)) {
				findings = append(findings, fmt.Sprintf("secret %.8s… in %s", s, p))
			}
		}
		return nil
	})
	return findings, scanned
}

// walletCanaryCheck fails if any secret appears in any file under home
// (data, config and cache; sov keeps no log files). The sealed seed holds
// only ciphertext, so it is scanned too.
func walletCanaryCheck(t *testing.T, home, mnemonic string) {
	t.Helper()
	findings, n := walletCanaryFindings(t, home, mnemonic)
	if n == 0 {
		t.Fatal("canary scanned no files")
	}
	for _, f := range findings {
		t.Error(f)
	}
}

func TestWalletCanaryNoPlaintextSecrets(t *testing.T) {
	home := t.TempDir()
	mn, err := wallet.NewMnemonic(24)
	if err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"wallet", "import"}, {"wallet", "addresses", "--json"}, {"wallet", "addresses", "--index", "3"}, {"wallet", "reveal"},
	} {
		stdin := ""
		if args[1] == "import" {
			stdin = mn + "\n"
		}
		if r := runSov(t, home, walletTestEnv, stdin, args...); r.Code != 0 {
			t.Fatalf("%v: %s", args, r.Stderr)
		}
	}
	walletCanaryCheck(t, home, mn)

	// the canary itself works: a leaked key is found
	leak := t.TempDir()
	secrets := wallettest.Secrets(t, mn)
	for i, s := range secrets {
		os.WriteFile(filepath.Join(leak, fmt.Sprintf("leak%d", i)), []byte("x "+strings.ToUpper(s)+" y"), 0o600)
	}
	if found, _ := walletCanaryFindings(t, leak, mn); len(found) < len(secrets) {
		t.Fatalf("canary missed leaks: found %d of %d", len(found), len(secrets))
	}
}

// TestWalletOldAuditLogMigratesOnce: an audit.log in the old format, damaged
// at its third line, is moved into the ledger the first time the wallet is
// used: the damage is said once, the verified lines are in the audit view,
// and the file is kept.
func TestWalletOldAuditLogMigratesOnce(t *testing.T) {
	home := t.TempDir()
	os.MkdirAll(filepath.Join(home, "wallet"), 0o700)
	// the old format: "<sha256 hex of prev hash + entry> <entry JSON>\n"
	var log []byte
	prev := strings.Repeat("0", 64)
	for i, body := range []string{
		`{"seq":1,"time":"2025-03-01T10:00:00Z","prev":"%s","decision":"allowed","caller":"cli","kind":"send","chain":"eip155:1","asset":"USDC","amount":"2","payee":"0xA","id":"r1"}`,
		`{"seq":2,"time":"2025-03-01T10:01:00Z","prev":"%s","decision":"refused","reason":"2 USDC exceeds the per-transaction limit","caller":"agent:x","kind":"pay","asset":"USDC","amount":"2","payee":"0xB"}`,
		`{"seq":3,"time":"2025-03-01T10:02:00Z","prev":"%s","decision":"allowed","caller":"cli","kind":"send"}`,
	} {
		body = fmt.Sprintf(body, prev)
		sum := sha256.Sum256([]byte(prev + body))
		prev = hex.EncodeToString(sum[:])
		if i == 2 {
			body = strings.Replace(body, "allowed", "refused", 1) // changed after it was written
		}
		log = append(log, prev+" "+body+"\n"...)
	}
	os.WriteFile(filepath.Join(home, "wallet", "audit.log"), log, 0o600)
	r := runSov(t, home, nil, "", "wallet", "audit")
	if r.Code != 0 || !strings.Contains(r.Stderr, "damaged at line 3") || !strings.Contains(r.Stderr, "first 2 entries were moved") ||
		!strings.Contains(r.Stdout, "exceeds the per-transaction limit (migrated)") || !strings.Contains(r.Stdout, "not migrated from line 3") {
		t.Fatalf("first use: %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
	if kept, _ := os.ReadFile(filepath.Join(home, "wallet", "audit.log.migrated")); string(kept) != string(log) {
		t.Fatal("the old log was not kept as it was")
	}
	r = runSov(t, home, nil, "", "wallet", "audit", "--verify")
	if r.Code != 0 || r.Stderr != "" || !strings.Contains(r.Stdout, "wallet: 3 entries in the ledger (2 moved from the old audit log)") {
		t.Fatalf("second use: %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
}

func TestWalletCLIDamagedFile(t *testing.T) {
	home := t.TempDir()
	if r := runSov(t, home, walletTestEnv, walletTestAbandon+"\n", "wallet", "import"); r.Code != 0 {
		t.Fatalf("import: %d %s", r.Code, r.Stderr)
	}
	if r := runSov(t, home, nil, "", "wallet", "policy"); r.Code != 0 { // creates wallet.db
		t.Fatalf("policy: %d %s", r.Code, r.Stderr)
	}
	db := filepath.Join(home, "wallet", "wallet.db")
	truncateDB(t, db)
	r := runSov(t, home, nil, "", "wallet", "policy")
	wantDamaged(t, r, db, "seed.sealed: move wallet.db aside")
	// The fix works: the seed survives, wallet.db is made again.
	if err := os.Rename(db, db+".bad"); err != nil {
		t.Fatal(err)
	}
	if r := runSov(t, home, nil, "", "wallet", "addresses", "--json"); r.Code != 0 || !strings.Contains(r.Stdout, "0x9858EfFD232B4033E47d90003D41EC34EcaEda94") {
		t.Fatalf("addresses after moving wallet.db aside: %d %s %s", r.Code, r.Stdout, r.Stderr)
	}
	if r := runSov(t, home, nil, "", "wallet", "policy"); r.Code != 0 {
		t.Fatalf("policy after moving wallet.db aside: %d %s", r.Code, r.Stderr)
	}
}

// walletApproveTyped is the wallet passphrase typed at the approval prompt.
var walletApproveTyped = []typed{{"Type the wallet passphrase to approve", "correct horse battery"}}

// walletSetPolicy changes the policy as only a person can: on a terminal,
// typing the wallet passphrase at the approval prompt.
func walletSetPolicy(t *testing.T, home string, args ...string) {
	t.Helper()
	if r := runSovTTY(t, home, nil, walletApproveTyped, append([]string{"wallet", "policy"}, args...)...); r.Code != 0 {
		t.Fatalf("wallet policy %v: exit %d\n%s", args, r.Code, r.Stdout)
	}
}

// TestWalletPolicyChangeNeedsThePassphraseTyped: the process the policy
// limits cannot change it. Without a terminal, --reset is refused even
// with the passphrase in the environment; on a terminal a "y" is not an
// approval; typing the passphrase at the prompt is, and the person saw the
// policy before and after.
func TestWalletPolicyChangeNeedsThePassphraseTyped(t *testing.T) {
	home := t.TempDir()
	if r := runSov(t, home, walletTestEnv, walletTestAbandon+"\n", "wallet", "import"); r.Code != 0 {
		t.Fatal(r.Stderr)
	}
	walletSetPolicy(t, home, "--asset", "ETH", "--per-day", "0.1")
	policy := func() string {
		t.Helper()
		r := runSov(t, home, nil, "", "wallet", "policy")
		if r.Code != 0 {
			t.Fatal(r.Stderr)
		}
		return r.Stdout
	}
	limited := policy()
	if !strings.Contains(limited, "0.1") {
		t.Fatalf("policy after a typed change: %q", limited)
	}
	r := runSov(t, home, walletTestEnv, "", "wallet", "policy", "--reset")
	if r.Code != 1 || !strings.Contains(r.Stderr, "needs the wallet passphrase typed by a person") || policy() != limited {
		t.Fatalf("headless reset: exit %d %q; policy now %q", r.Code, r.Stderr, policy())
	}
	r = runSovTTY(t, home, walletTestEnv, []typed{{"Type the wallet passphrase to approve", "y"}}, "wallet", "policy", "--reset")
	if r.Code != 1 || !strings.Contains(r.Stdout, "wrong") || policy() != limited {
		t.Fatalf("a terminal answering y: exit %d\n%s\npolicy now %q", r.Code, r.Stdout, policy())
	}
	r = runSovTTY(t, home, nil, walletApproveTyped, "wallet", "policy", "--reset")
	if r.Code != 0 || !strings.Contains(r.Stdout, "Now:\n  ETH") || policy() == limited {
		t.Fatalf("typed reset: exit %d\n%s\npolicy now %q", r.Code, r.Stdout, policy())
	}
}
