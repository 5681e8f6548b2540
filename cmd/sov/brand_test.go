package main

import (
	"bufio"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sovos/sov/agents"
	"github.com/sovos/sov/brand"
	"github.com/sovos/sov/feeds/nostr"
	"github.com/sovos/sov/internal/testtool"
	"github.com/sovos/sov/wallet"
	"github.com/sovos/sov/wallet/wallettest"
)

// brandMnemonic is the brand's own wallet (a BIP39 test vector).
const brandMnemonic = "legal winner thank year wave sausage worth useful legal winner thank yellow"

// TestBrandAnvilAcceptance: brand A (its own wallet, settling from it
// under its policy, its knowledge a vault collection) writes its profile,
// announces, and serves on loopback; the user trusts A's key, sees A in
// sov brands ls (an untrusted brand's announcement is not shown), asks A
// about its collection, pays 0.01 test-USDC on anvil within --max-price,
// gets an answer signed by A, and sov ledger verify covers the exchange.
// A price above --max-price, and a question A's knowledge has nothing on,
// pay nothing.
func TestBrandAnvilAcceptance(t *testing.T) {
	modelPath := testtool.Model(t, testtool.Stories)
	an := wallettest.StartAnvil(t)
	user, brandHome := t.TempDir(), t.TempDir()
	for _, h := range []struct{ home, words string }{{user, walletTestAbandon}, {brandHome, brandMnemonic}} {
		if r := runSov(t, h.home, walletTestEnv, h.words+"\n", "wallet", "import"); r.Code != 0 {
			t.Fatal(r.Stderr)
		}
	}
	seed, _ := wallet.SeedFromMnemonic(walletTestAbandon, "")
	keys := wallet.NewKeys(seed)
	defer keys.Wipe()
	an.Fund(t, "0x9858EfFD232B4033E47d90003D41EC34EcaEda94", 10)
	usdc := an.DeployEIP3009(t, keys) // all of it held by the user
	bseed, _ := wallet.SeedFromMnemonic(brandMnemonic, "")
	bkeys := wallet.NewKeys(bseed)
	defer bkeys.Wipe()
	bacct, _ := bkeys.Accounts(0)
	an.Fund(t, bacct.EVM, 10) // gas for settling
	for _, h := range []string{user, brandHome} {
		if r := runSov(t, h, nil, "", "wallet", "networks", "add", "anvil", "--rpc", an.URL, "--usdc", usdc); r.Code != 0 {
			t.Fatalf("networks add: %s", r.Stderr)
		}
	}
	walletSetPolicy(t, brandHome, "--allow-call", "anvil:"+usdc+":"+wallet.X402TransferSelector)

	// the brand: profile, announcement, server
	payee := "0x00000000000000000000000000000000000000B7"
	ln := freePort(t)
	endpoint := "http://" + ln
	// the brand's knowledge: a vault collection
	// (several documents: a term found in every passage counts for nothing)
	notes := t.TempDir()
	for name, text := range map[string]string{
		"anvils.md":  "# Acme anvils\n\nAcme sells anvils: the forged anvil weighs 50 kg and costs 200 dollars.\n",
		"hours.md":   "# Opening hours\n\nThe shop opens at nine in the morning on weekdays.\n",
		"returns.md": "# Returns\n\nGoods may be returned within thirty days with the receipt.\n",
		"team.md":    "# Team\n\nThe founder started the company in a small garage.\n",
	} {
		os.WriteFile(filepath.Join(notes, name), []byte(text), 0o600)
	}
	for _, args := range [][]string{{"vault", "init", "--kdf-time", "1", "--kdf-memory", "19", "--kdf-threads", "1"}, {"vault", "add", "-c", "acme", notes}} {
		if r := runSov(t, brandHome, brandVaultEnv, "", args...); r.Code != 0 {
			t.Fatalf("%v: %s", args, r.Stderr)
		}
	}
	if r := runSov(t, brandHome, nil, "", "brand", "init", "--name", "Acme", "--description", "anvils", "--network", "anvil",
		"--pay-to", payee, "--price", "0.01", "--model", modelPath, "--endpoint", endpoint, "--collection", "acme"); r.Code != 0 {
		t.Fatalf("brand init: %s", r.Stderr)
	}
	feedsEnv := append([]string{"SOV_FEEDS_PASSPHRASE=feeds pass"}, walletTestEnv...)
	if r := runSov(t, brandHome, feedsEnv, "", "feeds", "keygen"); r.Code != 0 {
		t.Fatalf("feeds keygen: %s", r.Stderr)
	}
	anns := filepath.Join(t.TempDir(), "brands.jsonl")
	if r := runSov(t, brandHome, feedsEnv, "", "brand", "announce", "--out", anns); r.Code != 0 {
		t.Fatalf("announce: %s", r.Stderr)
	}
	// an untrusted brand announces too
	other := t.TempDir()
	runSov(t, other, feedsEnv, "", "feeds", "keygen")
	sk, _ := nostr.GenerateKey()
	evil, _ := brand.Announcement{Name: "Evil", Endpoint: "http://127.0.0.1:1", Key: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}.Event(sk, time.Now())
	f, _ := os.OpenFile(anns, os.O_APPEND|os.O_WRONLY, 0)
	f.Write(append(evil.Marshal(), '\n'))
	f.Close()
	b, _ := os.ReadFile(anns)
	ev, err := nostr.Parse([]byte(strings.SplitN(string(b), "\n", 2)[0]))
	if err != nil {
		t.Fatal(err)
	}
	startBrand(t, brandHome, ln)

	// the user
	if r := runSov(t, user, nil, "", "feeds", "trust", nostr.Npub(ev.PubKey), "--name", "Acme"); r.Code != 0 {
		t.Fatalf("trust: %s", r.Stderr)
	}
	r := runSov(t, user, nil, "", "brands", "ls", "--from", anns)
	if r.Code != 0 || !strings.Contains(r.Stdout, "Acme") || strings.Contains(r.Stdout, "Evil") || !strings.Contains(r.Stdout, "1 announcements from keys you do not trust") {
		t.Fatalf("brands ls: %d %s %s", r.Code, r.Stdout, r.Stderr)
	}
	if r := runSov(t, user, walletTestEnv, "", "brands", "ask", "Evil", "hi", "--from", anns); r.Code == 0 || !strings.Contains(r.Stderr, "no trusted announcement") {
		t.Fatalf("asked an untrusted brand: %d %s", r.Code, r.Stderr)
	}
	if r := runSov(t, user, walletTestEnv, "", "brands", "ask", "Acme", "what do you sell?", "--max-price", "0.005", "--from", anns); r.Code != 1 || !strings.Contains(r.Stderr, "--max-price") {
		t.Fatalf("above max: %d %s", r.Code, r.Stderr)
	}
	// nothing in A's knowledge on it: no answer, nothing charged
	if r := runSov(t, user, walletTestEnv, "", "brands", "ask", "Acme", "zebra quantum?", "--max-price", "0.01", "--from", anns); r.Code != 1 || !strings.Contains(r.Stderr, "nothing was charged") {
		t.Fatalf("nothing known: %d %s", r.Code, r.Stderr)
	}
	if got := an.TokenBalance(t, usdc, payee); got.Sign() != 0 {
		t.Fatalf("paid %s above the max or for no answer", got)
	}
	r = runSov(t, user, walletTestEnv, "", "brands", "ask", "Acme", "what anvils does Acme sell?", "--max-price", "0.01", "--from", anns, "--json")
	if r.Code != 0 {
		t.Fatalf("brands ask: %d %s", r.Code, r.Stderr)
	}
	var res brand.Result
	if err := json.Unmarshal([]byte(r.Stdout), &res); err != nil || !res.Verified || res.Answer.Answer == "" || len(res.Answer.Model) != 64 {
		t.Fatalf("%v %s", err, r.Stdout)
	}
	if !an.Succeeded(t, res.Settlement.Transaction) || an.TokenBalance(t, usdc, payee).Int64() != 10000 {
		t.Fatalf("settlement %+v", res.Settlement)
	}
	// the same over MCP
	r = runSov(t, user, walletTestEnv, "", "brands", "ask", "Acme", "how heavy is the forged anvil?", "--max-price", "0.01", "--from", anns, "--mcp")
	if r.Code != 0 || !strings.Contains(r.Stderr, "signature verified") || an.TokenBalance(t, usdc, payee).Int64() != 20000 {
		t.Fatalf("brands ask --mcp: %d %s", r.Code, r.Stderr)
	}
	agentAsksBrand(t, user, anns, an, usdc, payee)
	// a prepaid session: three answers for one payment of 0.03
	paid := an.TokenBalance(t, usdc, payee).Int64()
	if r := runSov(t, user, walletTestEnv, "", "brands", "session", "Acme", "--answers", "3", "--max-price", "0.01", "--from", anns); r.Code != 0 || an.TokenBalance(t, usdc, payee).Int64() != paid+30000 {
		t.Fatalf("brands session: %d %s %s", r.Code, r.Stdout, r.Stderr)
	}
	r = runSov(t, user, walletTestEnv, "", "brands", "ask", "Acme", "what does the forged anvil cost?", "--max-price", "0.01", "--from", anns)
	if r.Code != 0 || !strings.Contains(r.Stderr, "from prepaid session") || !strings.Contains(r.Stderr, "(2 answers left); signature verified") || an.TokenBalance(t, usdc, payee).Int64() != paid+30000 {
		t.Fatalf("ask in the session: %d %s %s", r.Code, r.Stdout, r.Stderr)
	}
	if r := runSov(t, user, nil, "", "brands", "sessions"); r.Code != 0 || !strings.Contains(r.Stdout, "2 of 3 left") {
		t.Fatalf("brands sessions: %d %s %s", r.Code, r.Stdout, r.Stderr)
	}
	r = runSov(t, user, walletTestEnv, "", "ledger", "ls", "--json", "--kind", "tool")
	if r.Code != 0 || !strings.Contains(r.Stdout, res.Settlement.Transaction) || !strings.Contains(r.Stdout, `"verified":true`) {
		t.Fatalf("ledger ls: %s %s", r.Stdout, r.Stderr)
	}
	if r := runSov(t, user, walletTestEnv, "", "ledger", "verify"); r.Code != 0 {
		t.Fatalf("ledger verify: %s %s", r.Stdout, r.Stderr)
	}
}

// TestBrandBadInput: each mistake is one line naming the fix, with the
// right exit code, and nothing is served or paid.
func TestBrandBadInput(t *testing.T) {
	home := t.TempDir()
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"brand", "serve"}, 1, "run sov brand init"},
		{[]string{"brand", "announce"}, 1, "run sov brand init"},
		{[]string{"brand", "serve", "--addr", "0.0.0.0:0"}, 2, "--public allows another address"},
		{[]string{"brand", "init", "--network", "nope", "--pay-to", "0x00000000000000000000000000000000000000B7"}, 2, "not a configured EVM network"},
		{[]string{"brand", "init", "--network", "base", "--pay-to", "0x12", "--name", "A"}, 2, "check --name, --pay-to"},
		{[]string{"brand", "init", "--network", "base", "--pay-to", "0x00000000000000000000000000000000000000B7", "--name", "A", "--price", "0"}, 2, "not a positive decimal amount"},
		{[]string{"brands", "ask", "Acme"}, 2, "needs a brand and a question"},
		{[]string{"brands", "ls", "--from", filepath.Join(home, "missing.jsonl")}, 1, "no such file"},
	}
	for _, c := range cases {
		r := runSov(t, home, nil, "", c.args...)
		if r.Code != c.code || !strings.Contains(r.Stderr, c.want) || strings.Count(strings.TrimSpace(r.Stderr), "\n") > 0 {
			t.Errorf("%v: exit %d %q, want %d and %q", c.args, r.Code, r.Stderr, c.code, c.want)
		}
	}
	if r := runSov(t, home, nil, "", "brand", "init", "--network", "base", "--pay-to", "0x00000000000000000000000000000000000000B7", "--name", "A"); r.Code != 0 {
		t.Fatalf("init: %s", r.Stderr)
	}
	if r := runSov(t, home, nil, "", "brand", "init", "--network", "base", "--pay-to", "0x00000000000000000000000000000000000000B7", "--name", "B"); r.Code != 1 || !strings.Contains(r.Stderr, "--force") {
		t.Fatalf("init over a profile: %d %s", r.Code, r.Stderr)
	}
}

var brandVaultEnv = []string{"SOV_VAULT_PASSPHRASE=vault pass"}

// freePort is a loopback address free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startBrand runs sov brand serve until the test ends.
func startBrand(t *testing.T, home, addr string) {
	t.Helper()
	cmd := exec.Command(sovBin, "brand", "serve", "--addr", addr)
	cmd.Env = append(append(append(cleanEnv(), "SOV_HOME="+home), walletTestEnv...), brandVaultEnv...)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		if strings.Contains(sc.Text(), "serving the brand at") {
			go func() {
				for sc.Scan() {
					t.Log(sc.Text())
				}
			}()
			return
		}
		t.Log(sc.Text())
	}
	t.Fatal("sov brand serve exited before serving")
}

// agentAsksBrand: the user's agent (the small chat model, greedy; the
// brand and the most it may pay are pinned by the agent's file, the
// question is the model's) asks Acme through brand.ask, paying 0.01
// test-USDC through the run's grant; the answer comes back signed and
// verified, it taints the run, and the ledger holds the exchange under
// the agent's name. Headless, without --approve brand.ask, nothing is
// paid.
func agentAsksBrand(t *testing.T, home, anns string, an *wallettest.Anvil, usdc, payee string) {
	m, err := testtool.ModelPath(testtool.Chat)
	if err != nil {
		t.Logf("the agent's part is skipped: %v", err)
		return
	}
	b, err := os.ReadFile(anns)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write(b) }))
	t.Cleanup(srv.Close)
	if r := runSov(t, home, nil, "", "feeds", "add", srv.URL+"/brands.jsonl"); r.Code != 0 {
		t.Fatalf("feeds add: %s", r.Stderr)
	}
	writeAgent(t, home, "buyer", `model = "`+m+`"
prompt = "You find out about products from the brands that sell them."
first_call = "brand.ask"
[budget]
steps = 2
step_tokens = 96
[[tools]]
name = "brand.ask"
set = { brand = "Acme", max_price = "0.01" }
[spend]
per_tx = { USDC = "0.05" }
per_run = { USDC = "0.05" }
networks = ["anvil"]
`)
	before := an.TokenBalance(t, usdc, payee).Int64()
	r := runSov(t, home, walletTestEnv, "", "agents", "run", "buyer", "--json", "What anvils does Acme sell?")
	if r.Code != exitNeedsApproval || an.TokenBalance(t, usdc, payee).Int64() != before {
		t.Fatalf("headless without --approve: exit %d, paid %d\n%s\n%s", r.Code, an.TokenBalance(t, usdc, payee).Int64()-before, r.Stdout, r.Stderr)
	}
	r = runSov(t, home, walletTestEnv, "", "agents", "run", "buyer", "--json", "--approve", "brand.ask", "What anvils does Acme sell?")
	var got struct {
		Verified    bool   `json:"verified"`
		Answer      string `json:"answer"`
		Transaction string `json:"transaction"`
	}
	var tainted, paid bool
	for _, e := range events(t, r.Stdout) {
		if e.Type == agents.EventToolResult && e.Tool == "brand.ask" {
			tainted = e.Tainted
			json.Unmarshal([]byte(e.Text), &got)
		}
		paid = paid || e.Type == agents.EventPayment && e.Tool == "brand.ask"
	}
	if !got.Verified || got.Answer == "" || !tainted || !paid || !an.Succeeded(t, got.Transaction) || an.TokenBalance(t, usdc, payee).Int64() != before+10000 {
		t.Fatalf("agent's brand.ask: exit %d, %+v, tainted %v, paid %v\n%s\n%s", r.Code, got, tainted, paid, r.Stdout, r.Stderr)
	}
	r = runSov(t, home, nil, "", "ledger", "ls", "--json", "--kind", "tool")
	if !strings.Contains(r.Stdout, `"agent:buyer"`) || strings.Count(r.Stdout, got.Transaction) == 0 {
		t.Fatalf("the agent's exchange is not in the ledger: %s", r.Stdout)
	}
}

// A session of a size no brand sells is a usage error before anything
// is looked up or paid; a damaged sessions file names itself and the fix.
func TestBrandsSessionBadInput(t *testing.T) {
	home := t.TempDir()
	if r := runSov(t, home, nil, "", "brands", "session", "Acme", "--answers", "1", "--from", os.DevNull); r.Code != exitUsage || !strings.Contains(r.Stderr, "2 to 100 answers") {
		t.Fatalf("--answers 1: %d %s", r.Code, r.Stderr)
	}
	os.MkdirAll(filepath.Join(home, "brands"), 0o700)
	os.WriteFile(filepath.Join(home, "brands", "sessions.json"), []byte("{broken"), 0o600)
	if r := runSov(t, home, nil, "", "brands", "sessions"); r.Code != 1 || !strings.Contains(r.Stderr, "is damaged") || !strings.Contains(r.Stderr, "move it aside") {
		t.Fatalf("damaged sessions: %d %s", r.Code, r.Stderr)
	}
}
