package brand

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/sovos/sov/wallet"
)

// x402's MCP transport (specs/transports-v2/mcp.md): the payment goes in
// the call's _meta["x402/payment"], the settlement comes back in the
// result's _meta["x402/payment-response"], and "payment required" is a
// tool result with isError set, the PaymentRequired as structuredContent
// and, wrapped in "x402/error", as the first text content.
const (
	MetaPayment         = "x402/payment"
	MetaPaymentResponse = "x402/payment-response"
	metaError           = "x402/error"
)

// askSchema is brand.ask's input; other tools take any object.
var (
	askSchema = json.RawMessage(`{"type":"object","properties":{"question":{"type":"string","description":"the question for the brand"}},"required":["question"]}`)
	anySchema = json.RawMessage(`{"type":"object"}`)
)

// MCPHandler is the brand's MCP endpoint (stateless streamable HTTP): one
// tool per priced tool, each paid through x402's MCP transport. No bearer
// token: the payment is the admission.
func (s *Server) MCPHandler() http.Handler {
	srv := mcp.NewServer(&mcp.Implementation{Name: "sov-brand", Title: s.profile.Name, Version: "1"}, &mcp.ServerOptions{
		Instructions: fmt.Sprintf("The paid tools of %s. Each call is paid with x402 (_meta[%q]); each answer is signed by the brand.", s.profile.Name, MetaPayment),
	})
	yes := true
	for _, tool := range s.profile.Tools() {
		schema := anySchema
		if tool == ToolAsk {
			schema = askSchema
		}
		srv.AddTool(&mcp.Tool{Name: tool, Description: fmt.Sprintf("%s (%s per call, paid with x402)", s.profile.Name, s.profile.Prices[tool]),
			InputSchema: schema, Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true, OpenWorldHint: &yes}}, s.mcpTool(tool))
	}
	return mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv },
		&mcp.StreamableHTTPOptions{Stateless: true, JSONResponse: true, MaxRequestBodyBytes: 1 << 16})
}

func (s *Server) mcpTool(tool string) mcp.ToolHandler {
	return func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		args := map[string]any{}
		if raw := bytes.TrimSpace(req.Params.Arguments); len(raw) > 0 && !bytes.Equal(raw, []byte("null")) {
			if err := json.Unmarshal(raw, &args); err != nil {
				return errorResult("the arguments must be a JSON object: " + err.Error()), nil
			}
		}
		var pay *wallet.X402Payload
		if v, ok := req.Params.Meta[MetaPayment]; ok {
			b, _ := json.Marshal(v)
			p, err := wallet.ParsePaymentSignature(string(b))
			if err != nil {
				return errorResult(err.Error()), nil
			}
			pay = &p
		}
		o := s.call(ctx, "mcp://tool/"+tool, tool, args, pay)
		switch {
		case o.required != nil:
			return paymentRequired(o), nil
		case o.err != nil:
			r := errorResult(o.err.Error())
			if o.settle != nil {
				r.Meta = mcp.Meta{MetaPaymentResponse: o.settle}
			}
			return r, nil
		}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: o.answer.Answer}},
			StructuredContent: o.answer, Meta: mcp.Meta{MetaPaymentResponse: o.settle}}, nil
	}
}

func errorResult(msg string) *mcp.CallToolResult {
	return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: msg}}}
}

// paymentRequired is x402's MCP "payment required" result, with the
// failed settlement inside when there was one.
func paymentRequired(o outcome) *mcp.CallToolResult {
	var data map[string]any
	b, _ := json.Marshal(o.required)
	json.Unmarshal(b, &data)
	if o.settle != nil {
		data[MetaPaymentResponse] = o.settle
	}
	msg := "Payment required"
	if o.required.Error != "" {
		msg = o.required.Error
	}
	text, _ := json.Marshal(map[string]any{metaError: map[string]any{"code": 402, "message": msg, "data": data}})
	return &mcp.CallToolResult{IsError: true, StructuredContent: data, Content: []mcp.Content{&mcp.TextContent{Text: string(text)}}}
}

// AskMCP is Ask over the brand's MCP endpoint (x402's MCP transport):
// the unpaid call's result carries the payment request, c.Pay signs it,
// the call goes again with the payment in _meta, and the answer's
// signature is checked against c.Key. c.Endpoint is the MCP URL.
func AskMCP(ctx context.Context, c Call) (Result, error) {
	tool := c.Tool
	if tool == "" {
		tool = ToolAsk
	}
	res := Result{Request: RequestHash(tool, c.Args)}
	cl := mcp.NewClient(&mcp.Implementation{Name: "sov", Version: "1"}, nil)
	var tr mcp.Transport = &mcp.StreamableClientTransport{Endpoint: c.Endpoint, HTTPClient: c.HTTP}
	sess, err := cl.Connect(ctx, tr, nil)
	if err != nil {
		return res, fmt.Errorf("connect to the brand: %w", err)
	}
	defer sess.Close()
	r, err := sess.CallTool(ctx, &mcp.CallToolParams{Name: tool, Arguments: c.Args})
	if err != nil {
		return res, fmt.Errorf("ask the brand: %w", err)
	}
	if !r.IsError || r.StructuredContent == nil {
		return res, fmt.Errorf("%w (%s)", ErrNotPaymentRequired, resultText(r))
	}
	required, _ := json.Marshal(r.StructuredContent)
	if res.Payment, err = c.Pay(ctx, required); err != nil {
		return res, err
	}
	p := &mcp.CallToolParams{Name: tool, Arguments: c.Args}
	p.Meta = mcp.Meta{MetaPayment: res.Payment.Payload}
	r, err = sess.CallTool(ctx, p)
	if err != nil {
		return res, fmt.Errorf("ask the brand with the payment: %w", err)
	}
	settled := false
	if v, ok := r.Meta[MetaPaymentResponse]; ok {
		b, _ := json.Marshal(v)
		if json.Unmarshal(b, &res.Settlement) == nil {
			settled = res.Settlement.Success
		}
	}
	if r.StructuredContent != nil {
		b, _ := json.Marshal(r.StructuredContent)
		json.Unmarshal(b, &res.Answer)
	}
	if r.IsError || res.Answer.Answer == "" {
		if settled {
			return res, &PaidNoAnswerError{Settlement: res.Settlement, Detail: resultText(r)}
		}
		return res, &RefusedError{Status: http.StatusPaymentRequired, Reason: resultText(r)}
	}
	res.Verified, res.Problem = verdict(res, c.Key, settled)
	c.checkChain(ctx, &res)
	return res, nil
}

func resultText(r *mcp.CallToolResult) string {
	for _, c := range r.Content {
		if t, ok := c.(*mcp.TextContent); ok {
			return t.Text
		}
	}
	return "no text"
}

// verdict is whether a paid answer holds: the brand's signature under
// key, for this request, over the settlement that was reported.
func verdict(res Result, key ed25519.PublicKey, settled bool) (bool, string) {
	if err := res.Answer.Verify(key, res.Request); err != nil {
		return false, err.Error()
	}
	if !settled || res.Answer.Transaction == "" || !strings.EqualFold(res.Answer.Transaction, res.Settlement.Transaction) {
		return false, "the signed settlement transaction is not the one reported as settled"
	}
	return true, ""
}
