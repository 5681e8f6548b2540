// Package mcptools gives an agent the tools of the outside MCP servers its
// file lists ([[mcp]] command = … or url = …), each approved by the user by
// hash.
//
// A tool is offered to the model as "mcp.SERVER.TOOL" (TOOL with any
// character outside [A-Za-z0-9_.-] made "_"), at the outside level: its
// results are data from "mcp:SERVER" and taint the run, so payments and
// writes need a person after it (see agents/perm.go). Only the MCP tools
// the agent's [[tools]] names are looked at, and only the servers they
// belong to are started. A command server gets a minimal environment
// (PATH, HOME, the locale and a few more; not sov's own, which may hold
// keys) plus its entry's env, and runs in a process group of its own that
// Close stops.
//
// Approval ("rug pull" defence): when the user approves a tool, the
// sha256 of the canonical JSON of its {name, description, inputSchema} is
// stored for the agent and server in $SOV_HOME/agents/mcp.db. A tool whose
// hash is not the approved one (new, or its description or schema changed
// since) is pending and is not offered until approved again, since a
// description is instructions the model reads.
//
// How a caller (sov agents run, the shell, the daemon) uses it:
//
//	set, err := mcptools.Open(ctx, agent, mcptools.NewApprovals(store.Dir), nil)
//	if err != nil { … } // *ServerError (a server did not start, has no such
//	                    // tool, …) or *agents.FileError (a rule names an
//	                    // argument the tool lacks); context.Canceled
//	defer set.Close()   // stops every server it started
//	if len(set.Pending()) > 0 {
//		// In a terminal: show each Change (termtext.Clean its text) and
//		// ask; then set.Approve(changes) and go on.
//		// Headless: set.Check() is a *PendingError that matches
//		// agents.ErrNeedsApproval (exit 4).
//	}
//	cfg.Tools = append(tools.All(), set.Tools()...)
//	agents.Run(ctx, cfg)
//
// A listed tool that is still pending is missing from Tools, so agents.Run
// would fail with agents.ErrUnknownTool: check Pending first.
package mcptools

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/sovos/sov/agents"
	"github.com/sovos/sov/agents/tools"
	"github.com/sovos/sov/internal/buildinfo"
	"github.com/sovos/sov/internal/termtext"
	"github.com/sovos/sov/model"
)

// Defaults of Options.
const (
	// DefaultConnectTimeout is long enough for "npx -y …" fetching its
	// package on a first run.
	DefaultConnectTimeout = 30 * time.Second
	DefaultListTimeout    = 10 * time.Second
	// DefaultMaxResult bounds the text of one result the model is given.
	DefaultMaxResult = 32 << 10
	// terminateWait is how long Close waits for a server to exit after
	// its stdin closes, and again after SIGTERM, before killing it.
	terminateWait = 2 * time.Second
)

// Options tune Open; nil means the defaults.
type Options struct {
	ConnectTimeout time.Duration // starting or dialling a server and the MCP handshake
	ListTimeout    time.Duration // listing its tools
	MaxResult      int           // bytes of a result's text
	// Stderr receives the servers' standard error (each line as the
	// server wrote it; untrusted). nil: discarded, except the last lines,
	// which a server that fails to start is reported with.
	Stderr io.Writer
	// HTTPClient dials url servers; nil: a client that follows no
	// redirects (an approved server must not hand the calls elsewhere).
	HTTPClient *http.Client
}

// Errors a *ServerError matches.
var (
	// ErrNotStarted: the server's command could not be started, exited,
	// did not answer in time, or the URL did not answer as an MCP server.
	ErrNotStarted = errors.New("the MCP server did not start")
	// ErrUnknownTool: the agent names a tool the server does not have.
	ErrUnknownTool = errors.New("the MCP server has no such tool")
	// ErrBadSchema: a tool's input schema is one sov's grammar compiler
	// cannot force, so the model could not call it.
	ErrBadSchema = errors.New("the tool's input schema cannot be forced")
	// ErrBadServer: the [[mcp]] entry itself is invalid (agents.CheckMCPServer).
	ErrBadServer = errors.New("invalid [[mcp]] entry")
)

// ServerError is an MCP server of an agent file that cannot be used. Its
// text is one line, cleaned for a terminal.
type ServerError struct {
	File   string // the agent file
	Server string
	Tool   string // the tool concerned, if one ("mcp.SERVER.TOOL")
	Err    error
}

func (e *ServerError) Error() string {
	var b strings.Builder
	b.WriteString(e.File + ": MCP server " + e.Server)
	if e.Tool != "" {
		b.WriteString(", tool " + e.Tool)
	}
	b.WriteString(": " + e.Err.Error())
	return oneLine(b.String())
}

func (e *ServerError) Unwrap() error { return e.Err }

// ErrNeedsApproval matches every *PendingError, as does
// agents.ErrNeedsApproval (a headless run exits 4).
var ErrNeedsApproval = errors.New("MCP tools need the user's approval")

// PendingError is tools the agent uses that the user has not approved as
// they are now.
type PendingError struct {
	Agent   string
	Changes []Change
}

func (e *PendingError) Error() string {
	var names []string
	for _, c := range e.Changes {
		n := c.Name + " (" + string(c.Kind)
		if len(c.Changed) > 0 {
			n += ": " + strings.Join(c.Changed, " and ")
		}
		names = append(names, n+")")
	}
	return oneLine(fmt.Sprintf("agent %s: %s: %s", e.Agent, ErrNeedsApproval, strings.Join(names, ", ")))
}

// Is makes errors.Is true for ErrNeedsApproval and agents.ErrNeedsApproval.
func (e *PendingError) Is(target error) bool {
	return target == ErrNeedsApproval || target == agents.ErrNeedsApproval
}

// ChangeKind says why a tool needs approval.
type ChangeKind string

const (
	KindNew     ChangeKind = "new"     // never approved for this agent
	KindChanged ChangeKind = "changed" // approved, and its hash has changed since
)

// Change is a tool awaiting the user's approval. Its text comes from the
// server: clean it (termtext.Clean) before printing.
type Change struct {
	Server string
	Tool   string // the tool's name on the server
	Name   string // the tool's name for the model, mcp.SERVER.TOOL
	Kind   ChangeKind
	// OldHash is the approved hash ("" when new); NewHash the tool's now,
	// the one Approve records.
	OldHash, NewHash string
	// Changed lists what differs from the approved tool: "description",
	// "schema" (empty when new; the name cannot change, it is the key).
	Changed        []string
	Description    string
	OldDescription string // as approved, when the description changed
	Schema         string // the input schema, JSON

	descHash, schemaHash string
}

// Set is the MCP tools of one agent's run: the servers it started and
// their tools. Close it when the run ends.
type Set struct {
	agent   string
	db      *Approvals
	conns   []*conn
	mu      sync.Mutex
	offered []tools.Tool
	pending []Change
	adapted map[string]*Tool // pending tools by Name, offered once approved
}

// Open starts (or dials) each server whose tools agent names, lists its
// tools, and sorts the named ones into those the user approved as they
// are (Tools) and those new or changed (Pending). Any server that cannot
// be used, a named tool its server lacks, or a tool whose schema cannot be
// forced, is a *ServerError; a rule of the agent's that names an argument
// the tool does not have is an *agents.FileError. Then nothing is left
// running.
func Open(ctx context.Context, agent *agents.Agent, db *Approvals, opt *Options) (*Set, error) {
	o := Options{}
	if opt != nil {
		o = *opt
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = DefaultConnectTimeout
	}
	if o.ListTimeout <= 0 {
		o.ListTimeout = DefaultListTimeout
	}
	if o.MaxResult <= 0 {
		o.MaxResult = DefaultMaxResult
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	s := &Set{agent: agent.Name, db: db, adapted: map[string]*Tool{}}

	// The MCP tools the agent names, by server, in the file's order.
	want := map[string][]string{}
	for _, r := range agent.Tools {
		if server, _, ok := agents.SplitMCPTool(r.Name); ok && !slices.Contains(want[server], r.Name) {
			want[server] = append(want[server], r.Name)
		}
	}
	for _, srv := range agent.MCP {
		names := want[srv.Name]
		if len(names) == 0 {
			continue // nothing of it is used: not started
		}
		delete(want, srv.Name)
		if err := s.add(ctx, agent, srv, names, o); err != nil {
			s.Close()
			return nil, err
		}
	}
	for server, names := range want { // Load refuses these; a hand-made Agent may not
		s.Close()
		return nil, &ServerError{File: agent.Path, Server: server, Tool: names[0], Err: fmt.Errorf("%w: no [[mcp]] entry names the server", ErrBadServer)}
	}
	return s, nil
}

// add connects to one server and sorts the tools of it that names lists.
func (s *Set) add(ctx context.Context, agent *agents.Agent, srv agents.MCPServer, names []string, o Options) error {
	fail := func(tool string, err error) error {
		return &ServerError{File: agent.Path, Server: srv.Name, Tool: tool, Err: err}
	}
	if err := agents.CheckMCPServer(srv); err != nil {
		return fail("", fmt.Errorf("%w: %v", ErrBadServer, err))
	}
	c, err := dial(ctx, srv, o)
	if err != nil {
		return fail("", err)
	}
	s.conns = append(s.conns, c)

	lctx, cancel := context.WithTimeout(ctx, o.ListTimeout)
	defer cancel()
	byName := map[string][]*mcp.Tool{}
	for t, err := range c.session.Tools(lctx, nil) {
		if err != nil {
			return fail("", fmt.Errorf("listing its tools: %w", c.explain(lctx, o.ListTimeout, err)))
		}
		n := ToolName(srv.Name, t.Name)
		byName[n] = append(byName[n], t)
	}
	approved, err := s.db.Approved(s.agent, srv.Name)
	if err != nil {
		return err
	}
	for _, name := range names {
		ts := byName[name]
		switch {
		case len(ts) == 0:
			return fail(name, fmt.Errorf("%w (it has %s)", ErrUnknownTool, listNames(byName)))
		case len(ts) > 1:
			return fail(name, fmt.Errorf("%w: the server has %d tools that sov names alike (%q, %q)", ErrUnknownTool, len(ts), ts[0].Name, ts[1].Name))
		}
		t, err := adapt(srv.Name, name, ts[0], c, o.MaxResult)
		if err != nil {
			return fail(name, err)
		}
		if _, err := model.CompileTools([]model.Tool{t.spec}, model.ToolAuto); err != nil {
			return fail(name, fmt.Errorf("%w: %v", ErrBadSchema, err))
		}
		if err := agents.CheckToolRules(agent, t); err != nil {
			return err // a *agents.FileError: a rule names an argument the tool does not have
		}
		rec, ok := approved[t.mcpName]
		if ok && rec.Hash == t.hash.all {
			s.offered = append(s.offered, t)
			continue
		}
		ch := Change{Server: srv.Name, Tool: t.mcpName, Name: name, Kind: KindNew, NewHash: t.hash.all,
			Description: t.spec.Description, Schema: string(t.spec.Parameters), descHash: t.hash.desc, schemaHash: t.hash.schema}
		if ok {
			ch.Kind, ch.OldHash = KindChanged, rec.Hash
			if rec.DescHash != t.hash.desc {
				ch.Changed = append(ch.Changed, "description")
				ch.OldDescription = rec.Description
			}
			if rec.SchemaHash != t.hash.schema {
				ch.Changed = append(ch.Changed, "schema")
			}
		}
		s.pending = append(s.pending, ch)
		s.adapted[name] = t
	}
	return nil
}

// Tools are the approved, unchanged tools, to add to agents.RunConfig.Tools.
func (s *Set) Tools() []tools.Tool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.offered)
}

// Pending are the named tools that need the user's approval: none of
// them is in Tools.
func (s *Set) Pending() []Change {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.pending)
}

// Check is nil when nothing is pending, else a *PendingError (which
// matches agents.ErrNeedsApproval).
func (s *Set) Check() error {
	if p := s.Pending(); len(p) > 0 {
		return &PendingError{Agent: s.agent, Changes: p}
	}
	return nil
}

// Approve records changes (from Pending, as shown to the user) in the
// approvals and offers those tools from now on.
func (s *Set) Approve(changes []Change) error {
	if err := s.db.Approve(s.agent, changes); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range changes {
		i := slices.IndexFunc(s.pending, func(p Change) bool { return p.Name == c.Name && p.NewHash == c.NewHash })
		if i < 0 {
			continue // not this Set's, or another version of the tool than it has
		}
		s.pending = slices.Delete(s.pending, i, i+1)
		s.offered = append(s.offered, s.adapted[c.Name])
		delete(s.adapted, c.Name)
	}
	return nil
}

// Close ends every server's session and stops every server process Open
// started (and what they started), waiting for them to exit.
func (s *Set) Close() error {
	var wg sync.WaitGroup
	for _, c := range s.conns {
		wg.Go(c.close)
	}
	wg.Wait()
	s.conns = nil
	return nil
}

// ToolName is the model's name for a server's tool: mcp.SERVER.TOOL, with
// each character the engine does not take in a tool name made "_", cut to
// the engine's 64.
func ToolName(server, tool string) string {
	var b strings.Builder
	b.WriteString(agents.MCPPrefix + server + ".")
	for _, r := range tool {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '.', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	n := b.String()
	if tool == "" {
		n += "_"
	}
	return n[:min(len(n), 64)]
}

func listNames(m map[string][]*mcp.Tool) string {
	if len(m) == 0 {
		return "no tools"
	}
	names := slices.Sorted(maps.Keys(m))
	if len(names) > 12 {
		names = append(names[:12], fmt.Sprintf("and %d more", len(names)-12))
	}
	return strings.Join(names, ", ")
}

// conn is one server's session and, for a command, its process.
type conn struct {
	server  string
	session *mcp.ClientSession
	cmd     *exec.Cmd // nil for a URL
	stderr  *tail
}

func dial(ctx context.Context, srv agents.MCPServer, o Options) (*conn, error) {
	c := &conn{server: srv.Name, stderr: &tail{}}
	var t mcp.Transport
	if srv.Command != "" {
		cmd := exec.Command(srv.Command, srv.Args...)
		cmd.Env = childEnv(srv.Env)
		cmd.Stderr = c.stderr
		if o.Stderr != nil {
			cmd.Stderr = io.MultiWriter(c.stderr, o.Stderr)
		}
		cmd.WaitDelay = terminateWait // a child left holding stderr does not hold up Close
		ownGroup(cmd)
		c.cmd = cmd
		t = &mcp.CommandTransport{Command: cmd, TerminateDuration: terminateWait}
	} else {
		t = &mcp.StreamableClientTransport{Endpoint: srv.URL, HTTPClient: o.HTTPClient, MaxRetries: -1, DisableStandaloneSSE: true}
	}
	client := mcp.NewClient(&mcp.Implementation{Name: "sov", Version: buildinfo.Version("")}, nil)
	cctx, cancel := context.WithTimeout(ctx, o.ConnectTimeout)
	defer cancel()
	cs, err := client.Connect(cctx, t, nil)
	if err != nil {
		err = c.explain(cctx, o.ConnectTimeout, err)
		c.close() // the SDK closes what it started on most failures; the group may remain
		return nil, err
	}
	c.session = cs
	return c, nil
}

// explain says why a server failed in one line, for the user: not found,
// exited (with its last words on stderr), or no answer in time.
func (c *conn) explain(ctx context.Context, timeout time.Duration, err error) error {
	switch {
	case c.cmd != nil && (errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist)):
		return fmt.Errorf("%w: command %q not found (is it installed, and on PATH?)", ErrNotStarted, c.cmd.Path)
	case c.cmd != nil && errors.Is(err, os.ErrPermission):
		return fmt.Errorf("%w: command %q cannot be run: %v", ErrNotStarted, c.cmd.Path, err)
	}
	if errors.Is(ctx.Err(), context.Canceled) {
		return ctx.Err() // the person stopped it: not the server's fault
	}
	msg := err.Error()
	timedOut := ctx.Err() != nil
	if timedOut {
		msg = fmt.Sprintf("no answer within %s", timeout)
	}
	if c.cmd != nil {
		if ps := c.cmd.ProcessState; ps != nil && !timedOut { // timed out, it was stopped
			msg = "it exited (" + ps.String() + ")"
		}
		if last := c.stderr.last(); last != "" {
			msg += "; it said: " + last
		}
	}
	return fmt.Errorf("%w: %s", ErrNotStarted, msg)
}

func (c *conn) close() {
	if c.session != nil {
		_ = c.session.Close() // a server's exit status on the way out is no news
	}
	if c.cmd != nil && c.cmd.Process != nil {
		killGroup(c.cmd)
	}
}

// childEnv is a server's environment: the few variables any program needs
// to run (PATH, HOME, the locale, …), not sov's whole environment, which
// may hold keys the user never meant for an outside server, and the
// entry's own env.
func childEnv(extra map[string]string) []string {
	var env []string
	for _, k := range []string{"PATH", "HOME", "USER", "LOGNAME", "SHELL", "TERM", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "TZ", "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_RUNTIME_DIR", "SYSTEMROOT"} {
		if _, set := extra[k]; set {
			continue
		}
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(extra)) {
		env = append(env, k+"="+extra[k])
	}
	return env
}

// tail keeps the last few KiB a server wrote on stderr.
type tail struct {
	mu  sync.Mutex
	buf []byte
}

const tailSize = 4 << 10

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > tailSize {
		t.buf = t.buf[len(t.buf)-tailSize:]
	}
	return len(p), nil
}

// last is the last non-empty line, cut to 200 bytes.
func (t *tail) last() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	lines := strings.Split(strings.TrimSpace(string(t.buf)), "\n")
	l := strings.TrimSpace(lines[len(lines)-1])
	if len(l) > 200 {
		l = l[:200] + "…"
	}
	return l
}

// oneLine is s cleaned for a terminal, on one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(termtext.Clean(s)), " ")
}
