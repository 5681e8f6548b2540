package wallet_test

import (
	"encoding/base64"
	"errors"
	"testing"

	"github.com/sovos/sov/wallet"
)

// TestX402ParseHeaders: PAYMENT-SIGNATURE and PAYMENT-RESPONSE values are
// read as base64 JSON (or the JSON itself); anything else is one clear
// error wrapping ErrX402Payload.
func TestX402ParseHeaders(t *testing.T) {
	payload := `{"x402Version":2,"accepted":{"scheme":"exact","network":"eip155:8453","amount":"10000","asset":"0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913","payTo":"0x00000000000000000000000000000000000000F2","maxTimeoutSeconds":60},` +
		`"payload":{"authorization":{"from":"0x9858EfFD232B4033E47d90003D41EC34EcaEda94","to":"0x00000000000000000000000000000000000000F2","value":"10000","validAfter":"0","validBefore":"1900000000","nonce":"0x01"},"signature":"0x02"}}`
	b64 := base64.StdEncoding.EncodeToString([]byte(payload))
	for _, tc := range []struct {
		name, in string
		ok       bool
	}{
		{"base64", b64, true},
		{"json", payload, true},
		{"base64 with spaces around", "  " + b64 + "\n", true},
		{"not base64", "%%%", false},
		{"base64 of garbage", base64.StdEncoding.EncodeToString([]byte("nope")), false},
		{"version 1", `{"x402Version":1}`, false},
		{"empty", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := wallet.ParsePaymentSignature(tc.in)
			if tc.ok != (err == nil) || err != nil && !errors.Is(err, wallet.ErrX402Payload) {
				t.Fatalf("err %v", err)
			}
			if tc.ok && (p.Payload.Authorization.Value != "10000" || p.Accepted.Network != "eip155:8453") {
				t.Fatalf("payload %+v", p)
			}
			if tc.ok {
				back, err := wallet.ParsePaymentSignature(p.Header())
				if err != nil || back.Payload != p.Payload || back.Accepted.Amount != p.Accepted.Amount {
					t.Fatalf("round trip: %v %+v", err, back)
				}
			}
		})
	}
	r, err := wallet.ParsePaymentResponse(base64.StdEncoding.EncodeToString([]byte(`{"success":true,"transaction":"0xabc","network":"eip155:8453","payer":"0x9858EfFD232B4033E47d90003D41EC34EcaEda94"}`)))
	if err != nil || !r.Success || r.Transaction != "0xabc" || r.Network != "eip155:8453" {
		t.Fatalf("response %+v %v", r, err)
	}
	if _, err := wallet.ParsePaymentResponse("%%%"); !errors.Is(err, wallet.ErrX402Payload) {
		t.Fatalf("response err %v", err)
	}
}
