package mcptools

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/sovos/sov/agents/tools"
	"github.com/sovos/sov/model"
)

// ErrToolFailed: the server answered the call with an error result
// (isError). Its text is the server's, and goes to the model as data.
var ErrToolFailed = errors.New("the MCP tool reported an error")

// Tool is one MCP server's tool as an agent's tool: it calls the server,
// at the outside level, and its result is data from "mcp:SERVER".
type Tool struct {
	server    string
	mcpName   string
	spec      model.Tool
	hash      hashes
	conn      *conn
	maxResult int
}

var _ tools.Tool = (*Tool)(nil)

func adapt(server, name string, t *mcp.Tool, c *conn, maxResult int) (*Tool, error) {
	schema := json.RawMessage(`{"type":"object"}`)
	if t.InputSchema != nil {
		b, err := json.Marshal(t.InputSchema)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadSchema, err)
		}
		if !bytes.Equal(b, []byte("null")) {
			schema = b
		}
	}
	h, err := hashTool(t.Name, t.Description, schema)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadSchema, err)
	}
	return &Tool{server: server, mcpName: t.Name, conn: c, maxResult: maxResult, hash: h,
		spec: model.Tool{Name: name, Description: t.Description, Parameters: schema}}, nil
}

// Spec is the tool as the server describes it, under its sov name.
func (t *Tool) Spec() model.Tool { return t.spec }

// Level is outside: what an outside server returns taints the run.
func (t *Tool) Level() tools.Level { return tools.Outside }

// Server is the [[mcp]] entry's name; Hash the approved hash.
func (t *Tool) Server() string { return t.server }
func (t *Tool) Hash() string   { return t.hash.all }

// Run calls the tool on its server. A server that has gone away, or a
// call that fails at the protocol level, is an error naming the server;
// ctx ends the call (the run loop's tool timeout).
func (t *Tool) Run(ctx context.Context, env *tools.Env, args json.RawMessage) (tools.Result, error) {
	if len(bytes.TrimSpace(args)) == 0 {
		args = json.RawMessage("{}")
	}
	res, err := t.conn.session.CallTool(ctx, &mcp.CallToolParams{Name: t.mcpName, Arguments: args})
	if err != nil {
		if ctx.Err() != nil {
			return tools.Result{}, ctx.Err()
		}
		if errors.Is(err, mcp.ErrConnectionClosed) {
			err = errors.New("the server has stopped")
			if last := t.conn.stderr.last(); last != "" {
				err = fmt.Errorf("the server has stopped; it said: %s", last)
			}
		}
		return tools.Result{}, fmt.Errorf("MCP server %s: %w", t.server, err)
	}
	r := tools.Result{Text: t.text(res), Source: "mcp:" + t.server, Tainted: true}
	if res.IsError {
		return r, fmt.Errorf("%w: %s", ErrToolFailed, r.Text)
	}
	return r, nil
}

// text is the result as text for the model: text parts as they are, other
// parts described, the structured result when there is no text; cut to
// maxResult bytes.
func (t *Tool) text(res *mcp.CallToolResult) string {
	var parts []string
	for _, c := range res.Content {
		switch c := c.(type) {
		case *mcp.TextContent:
			parts = append(parts, c.Text)
		case *mcp.ImageContent:
			parts = append(parts, fmt.Sprintf("[an image, %s, %d bytes, not shown]", c.MIMEType, len(c.Data)))
		case *mcp.AudioContent:
			parts = append(parts, fmt.Sprintf("[audio, %s, %d bytes, not shown]", c.MIMEType, len(c.Data)))
		case *mcp.ResourceLink:
			parts = append(parts, fmt.Sprintf("[a link: %s %s]", c.URI, c.Name))
		case *mcp.EmbeddedResource:
			if r := c.Resource; r != nil && r.Text != "" {
				parts = append(parts, r.Text)
			} else if r != nil {
				parts = append(parts, fmt.Sprintf("[a resource: %s, %s, %d bytes, not shown]", r.URI, r.MIMEType, len(r.Blob)))
			}
		default:
			b, _ := json.Marshal(c)
			parts = append(parts, fmt.Sprintf("[content not shown: %.200s]", b))
		}
	}
	if len(parts) == 0 && res.StructuredContent != nil {
		b, err := json.Marshal(res.StructuredContent)
		if err == nil {
			parts = append(parts, string(b))
		}
	}
	s := strings.Join(parts, "\n")
	if len(s) > t.maxResult {
		cut := t.maxResult
		for cut > 0 && !utf8Start(s[cut]) {
			cut--
		}
		s = fmt.Sprintf("%s\n[cut: %d more bytes]", s[:cut], len(s)-cut)
	}
	return s
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }
