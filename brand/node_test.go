package brand_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/sovos/sov/brand"
	"github.com/sovos/sov/internal/testtool"
	"github.com/sovos/sov/wallet"
)

// brandMCPScript is an outside client on the official MCP TypeScript SDK:
// it lists the brand's tools, calls brand.ask unpaid (x402's "payment
// required" result), then with the payment given in _meta["x402/payment"],
// and prints what it got. Arguments: URL, the payment as JSON.
const brandMCPScript = `
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

const [url, payment] = process.argv.slice(2);
const client = new Client({ name: 'node-brand', version: '1.0.0' });
await client.connect(new StreamableHTTPClientTransport(new URL(url)));
const { tools } = await client.listTools();
const unpaid = await client.callTool({ name: 'brand.ask', arguments: { question: 'from node?' } });
const paid = await client.callTool({ name: 'brand.ask', arguments: { question: 'from node?' }, _meta: { 'x402/payment': JSON.parse(payment) } });
await client.close();
console.log(JSON.stringify({ tools: tools.map(t => t.name), unpaid: { isError: !!unpaid.isError, required: unpaid.structuredContent, text: unpaid.content[0].text },
  paid: { isError: !!paid.isError, text: paid.content[0].text, answer: paid.structuredContent, meta: paid._meta } }));
`

// TestBrandMCPOfficialClient: the official MCP TypeScript SDK pays the
// brand's MCP endpoint through x402's MCP transport and gets the signed
// answer and the settlement in _meta["x402/payment-response"].
func TestBrandMCPOfficialClient(t *testing.T) {
	f := newFixture(t, nil)
	// the payment, signed ahead for the brand's one option
	reqs, _ := (&brand.Profile{Name: "Acme", Prices: map[string]string{brand.ToolAsk: "0.01"},
		Pay: []brand.Pay{{Network: f.nets[0].CAIP2, PayTo: payee, Asset: f.usdc, Decimals: 6, TokenName: "USD Coin", TokenVersion: "2"}}}).Requirements(brand.ToolAsk, 120)
	pr, _ := json.Marshal(wallet.PaymentRequired{X402Version: 2, Accepts: reqs, Resource: &wallet.PaymentResource{URL: "mcp://tool/brand.ask"}})
	p, err := f.payer("0.01")(context.Background(), pr)
	if err != nil {
		t.Fatal(err)
	}
	pj, _ := json.Marshal(p.Payload)
	out := testtool.RunNode(t, brandMCPScript, 60*time.Second, nil, f.http.URL+"/mcp", string(pj))
	var got struct {
		Tools  []string
		Unpaid struct {
			IsError  bool
			Required wallet.PaymentRequired
			Text     string
		}
		Paid struct {
			IsError bool
			Text    string
			Answer  brand.Answer
			Meta    map[string]wallet.X402Settlement
		}
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if len(got.Tools) != 1 || got.Tools[0] != brand.ToolAsk {
		t.Fatalf("tools %v", got.Tools)
	}
	if !got.Unpaid.IsError || got.Unpaid.Required.X402Version != 2 || len(got.Unpaid.Required.Accepts) != 1 || !strings.Contains(got.Unpaid.Text, `"x402/error"`) {
		t.Fatalf("unpaid: %+v", got.Unpaid)
	}
	st := got.Paid.Meta[brand.MetaPaymentResponse]
	if got.Paid.IsError || !st.Success || !f.aw.Anvil.Succeeded(t, st.Transaction) || f.paid(t) != 10000 {
		t.Fatalf("paid: %s", out)
	}
	if err := got.Paid.Answer.Verify(f.pub, brand.RequestHash(brand.ToolAsk, map[string]any{"question": "from node?"})); err != nil || got.Paid.Answer.Transaction != st.Transaction {
		t.Fatalf("signature: %v", err)
	}
}

const fetchScript = `
import { wrapFetchWithPaymentFromConfig, decodePaymentResponseHeader } from "@x402/fetch";
import { ExactEvmScheme } from "@x402/evm/exact/client";
import { privateKeyToAccount } from "viem/accounts";
const [url, network, asset] = process.argv.slice(2);
const account = privateKeyToAccount(process.env.X402_KEY);
const pay = wrapFetchWithPaymentFromConfig(fetch, {
  schemes: [{ network, client: new ExactEvmScheme(account) }],
  spendControls: { allowedAssets: [{ network, asset, maxAmountPerPayment: "10000" }] },
});
const res = await pay(url, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ question: "from x402 fetch?" }) });
const h = res.headers.get("PAYMENT-RESPONSE");
console.log(JSON.stringify({ status: res.status, body: await res.text(), receipt: h ? decodePaymentResponseHeader(h) : null }));
`

// TestBrandX402FetchClient: the official @x402/fetch client pays the
// brand's plain HTTP endpoint (402 with PAYMENT-REQUIRED, retried with
// PAYMENT-SIGNATURE) and gets the signed answer and PAYMENT-RESPONSE.
func TestBrandX402FetchClient(t *testing.T) {
	f := newFixture(t, nil)
	key := f.chain.Key(2)
	payer := crypto.PubkeyToAddress(key.PublicKey)
	f.aw.Anvil.TransferToken(t, f.aw.Keys, f.usdc, payer.Hex(), big.NewInt(1_000_000))
	out := testtool.RunNode(t, fetchScript, time.Minute, []string{"X402_KEY=0x" + hex.EncodeToString(crypto.FromECDSA(key))}, f.http.URL+"/ask", f.nets[0].CAIP2, f.usdc)
	var got struct {
		Status  int
		Body    string
		Receipt *wallet.X402Settlement
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	var a brand.Answer
	if got.Status != 200 || got.Receipt == nil || !got.Receipt.Success || json.Unmarshal([]byte(got.Body), &a) != nil {
		t.Fatalf("fetch: %s", out)
	}
	if err := a.Verify(f.pub, brand.RequestHash(brand.ToolAsk, map[string]any{"question": "from x402 fetch?"})); err != nil || a.Transaction != got.Receipt.Transaction || f.paid(t) != 10000 {
		t.Fatalf("answer %+v: %v, payee holds %d", a, err, f.paid(t))
	}
}
