package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// A running sov serve announces itself in a small file under the data
// directory, so that sov run and the shell of the same user can use its
// loaded models instead of loading their own. The file holds no secret:
// with an API key, it only says one is needed, and clients take the key
// from their own environment.

// AnnounceFile is the announcement's name under the data directory.
const AnnounceFile = "serve.json"

// DiscoverTimeout bounds the health check of an announced server: a
// server that does not answer that fast is treated as gone, so that a
// client never waits long before loading the model itself.
const DiscoverTimeout = 200 * time.Millisecond

// Announcement is what the file says.
type Announcement struct {
	Addr        string `json:"addr"` // host:port
	PID         int    `json:"pid"`
	KeyRequired bool   `json:"key_required,omitempty"`
	Version     string `json:"version,omitempty"`
}

// Errors of Discover. ErrNoServer is the common case (none announced, or
// the announcement is stale); ErrKeyNeeded is a live server that requires
// an API key the caller does not have.
var (
	ErrNoServer  = errors.New("no sov server is announced")
	ErrKeyNeeded = errors.New("the running sov server requires an API key")
)

// Announce writes a's file under dataDir (owner-readable only) and returns
// a function that removes it, if it is still a's: a second server started
// meanwhile keeps its own announcement.
func Announce(dataDir string, a Announcement) (remove func(), err error) {
	if a.PID == 0 {
		a.PID = os.Getpid()
	}
	b, err := json.Marshal(a)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("announce the server: %w", err)
	}
	path := filepath.Join(dataDir, AnnounceFile)
	// Write then rename, so a client never reads half a file.
	tmp, err := os.CreateTemp(dataDir, AnnounceFile+".*")
	if err != nil {
		return nil, fmt.Errorf("announce the server: %w", err)
	}
	_, err = tmp.Write(append(b, '\n'))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return nil, fmt.Errorf("announce the server: %w", err)
	}
	return func() {
		if cur, err := readAnnouncement(path); err == nil && cur.PID == a.PID && cur.Addr == a.Addr {
			os.Remove(path)
		}
	}, nil
}

func readAnnouncement(path string) (Announcement, error) {
	var a Announcement
	b, err := os.ReadFile(path)
	if err != nil {
		return a, err
	}
	if err := json.Unmarshal(b, &a); err != nil {
		return a, err
	}
	if a.Addr == "" || a.PID <= 0 {
		return a, errors.New("incomplete announcement")
	}
	return a, nil
}

// Discover finds the server announced under dataDir and checks that it is
// alive (its process exists and /health answers within DiscoverTimeout).
// key is the caller's API key ("" = none). Stale or unreadable
// announcements give ErrNoServer; they are left for the next sov serve to
// replace.
func Discover(ctx context.Context, dataDir, key string) (*Client, error) {
	a, err := readAnnouncement(filepath.Join(dataDir, AnnounceFile))
	if err != nil {
		return nil, ErrNoServer
	}
	if !processAlive(a.PID) {
		return nil, fmt.Errorf("%w (the announced server, pid %d, is gone)", ErrNoServer, a.PID)
	}
	c := NewClient(a.Addr, key)
	if err := c.Health(ctx, DiscoverTimeout); err != nil {
		return nil, fmt.Errorf("%w (%s does not answer: %v)", ErrNoServer, a.Addr, err)
	}
	if a.KeyRequired && key == "" {
		return nil, fmt.Errorf("%w (%s)", ErrKeyNeeded, a.Addr)
	}
	return c, nil
}

// Health checks that the server answers /health within timeout.
func (c *Client) Health(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var h struct {
		Status string `json:"status"`
	}
	if err := c.do(ctx, http.MethodGet, "/health", nil, &h); err != nil {
		return err
	}
	if h.Status != "ok" {
		return fmt.Errorf("health status %q", h.Status)
	}
	return nil
}

// processAlive says whether a process with pid exists (signal 0 checks
// without signalling; EPERM means it exists under another user).
func processAlive(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	err = p.Signal(syscall.Signal(0))
	return err == nil || errors.Is(err, os.ErrPermission)
}

// LocalAddr is the address a client on this machine dials for a listener
// on addr: a wildcard host (0.0.0.0, ::) becomes loopback, which the
// server answers without the Host check failing.
func LocalAddr(addr net.Addr) string {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok || !tcp.IP.IsUnspecified() {
		return addr.String()
	}
	ip := net.IPv4(127, 0, 0, 1)
	if tcp.IP.To4() == nil {
		ip = net.IPv6loopback
	}
	return net.JoinHostPort(ip.String(), fmt.Sprint(tcp.Port))
}
