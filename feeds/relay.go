package feeds

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/coder/websocket"

	"github.com/sovos/sov/feeds/nostr"
)

// Filter is a NIP-01 subscription filter.
type Filter struct {
	IDs     []string `json:"ids,omitempty"`
	Authors []string `json:"authors,omitempty"`
	Kinds   []int    `json:"kinds,omitempty"`
	Since   int64    `json:"since,omitempty"`
	Until   int64    `json:"until,omitempty"`
	Limit   int      `json:"limit,omitempty"`
}

// RelayBatch is what a relay subscription returned: raw event JSON (still
// to be verified) plus envelopes that could not even be read.
type RelayBatch struct {
	Events [][]byte
	Counts Counts
}

// relayReadLimit leaves room for the ["EVENT","sub",…] envelope.
const relayReadLimit = nostr.MaxEventSize + 4096

// FetchRelay subscribes with filter, collects events until EOSE, then
// sends CLOSE. If the relay drops the connection mid-stream, the events
// received so far are returned with the error.
func FetchRelay(ctx context.Context, url string, f Filter) (RelayBatch, error) {
	var out RelayBatch
	conn, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		return out, fmt.Errorf("connect to relay %s: %w", url, err)
	}
	defer conn.CloseNow()
	conn.SetReadLimit(relayReadLimit)
	sub := "sov-" + strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
	req, _ := json.Marshal([]any{"REQ", sub, f})
	if err := conn.Write(ctx, websocket.MessageText, req); err != nil {
		return out, fmt.Errorf("relay %s: send REQ: %w", url, err)
	}
	for {
		_, msg, err := conn.Read(ctx)
		if err != nil {
			return out, fmt.Errorf("relay %s closed before end of stored events (after %d events): %w", url, len(out.Events), err)
		}
		var env []json.RawMessage
		if err := json.Unmarshal(msg, &env); err != nil || len(env) < 2 {
			out.Counts.Seen++
			out.Counts.reject(RejectMalformed, "relay sent a message that is not a JSON array")
			continue
		}
		var typ, gotSub string
		json.Unmarshal(env[0], &typ)
		json.Unmarshal(env[1], &gotSub)
		switch typ {
		case "EVENT":
			if gotSub != sub || len(env) != 3 {
				continue
			}
			out.Events = append(out.Events, []byte(env[2]))
		case "EOSE":
			if gotSub == sub {
				cl, _ := json.Marshal([]any{"CLOSE", sub})
				_ = conn.Write(ctx, websocket.MessageText, cl)
				conn.Close(websocket.StatusNormalClosure, "")
				return out, nil
			}
		case "CLOSED":
			if gotSub == sub {
				var reason string
				if len(env) > 2 {
					json.Unmarshal(env[2], &reason)
				}
				return out, fmt.Errorf("relay %s refused the subscription: %s", url, reason)
			}
		case "NOTICE":
			// informational only
		}
	}
}

// PublishRelay sends an event and waits for the relay's OK.
func PublishRelay(ctx context.Context, url string, ev *nostr.Event) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		return fmt.Errorf("connect to relay %s: %w", url, err)
	}
	defer conn.CloseNow()
	conn.SetReadLimit(relayReadLimit)
	msg := append([]byte(`["EVENT",`), ev.Marshal()...)
	msg = append(msg, ']')
	if err := conn.Write(ctx, websocket.MessageText, msg); err != nil {
		return fmt.Errorf("relay %s: send EVENT: %w", url, err)
	}
	for {
		_, data, err := conn.Read(ctx)
		if err != nil {
			return fmt.Errorf("relay %s: no OK for the event: %w", url, err)
		}
		var env []json.RawMessage
		if json.Unmarshal(data, &env) != nil || len(env) < 3 {
			continue
		}
		var typ, id string
		var ok bool
		json.Unmarshal(env[0], &typ)
		json.Unmarshal(env[1], &id)
		if typ != "OK" || id != ev.ID {
			continue
		}
		json.Unmarshal(env[2], &ok)
		if !ok {
			var reason string
			if len(env) > 3 {
				json.Unmarshal(env[3], &reason)
			}
			return fmt.Errorf("relay %s rejected the event: %s", url, reason)
		}
		conn.Close(websocket.StatusNormalClosure, "")
		return nil
	}
}
