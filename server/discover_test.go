package server

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDiscover(t *testing.T) {
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	}))
	defer ok.Close()
	block := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(block)
	down := httptest.NewServer(http.NotFoundHandler())
	downAddr := strings.TrimPrefix(down.URL, "http://")
	down.Close()
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Skip("no process to outlive:", err)
	}
	addr := func(s *httptest.Server) string { return strings.TrimPrefix(s.URL, "http://") }
	me := os.Getpid()

	tests := []struct {
		name    string
		file    string // "" = no announcement
		a       Announcement
		key     string
		wantErr error
	}{
		{"none announced", "", Announcement{}, "", ErrNoServer},
		{"garbage", "{not json", Announcement{}, "", ErrNoServer},
		{"live", "-", Announcement{Addr: addr(ok), PID: me}, "", nil},
		{"dead pid", "-", Announcement{Addr: addr(ok), PID: dead.Process.Pid}, "", ErrNoServer},
		{"nothing listening", "-", Announcement{Addr: downAddr, PID: me}, "", ErrNoServer},
		{"does not answer in time", "-", Announcement{Addr: addr(slow), PID: me}, "", ErrNoServer},
		{"key needed, none given", "-", Announcement{Addr: addr(ok), PID: me, KeyRequired: true}, "", ErrKeyNeeded},
		{"key needed and given", "-", Announcement{Addr: addr(ok), PID: me, KeyRequired: true}, "k", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			switch tt.file {
			case "":
			case "-":
				if _, err := Announce(dir, tt.a); err != nil {
					t.Fatal(err)
				}
			default:
				os.WriteFile(filepath.Join(dir, AnnounceFile), []byte(tt.file), 0o600)
			}
			start := time.Now()
			c, err := Discover(context.Background(), dir, tt.key)
			if took := time.Since(start); took > time.Second {
				t.Errorf("Discover took %v", took)
			}
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err == nil && (c.Base != "http://"+tt.a.Addr || c.APIKey != tt.key) {
				t.Errorf("client %+v for %+v", c, tt.a)
			}
		})
	}
}

// The announcement holds no key, is private, and is removed only by the
// server that wrote it.
func TestAnnounceRemove(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, AnnounceFile)
	remove1, err := Announce(dir, Announcement{Addr: "127.0.0.1:1", PID: 1, KeyRequired: true})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if fi, _ := os.Stat(path); fi.Mode().Perm()&0o077 != 0 {
		t.Errorf("announcement mode %v, want private", fi.Mode())
	}
	if string(b) != `{"addr":"127.0.0.1:1","pid":1,"key_required":true}`+"\n" {
		t.Errorf("announcement %s", b)
	}
	remove2, err := Announce(dir, Announcement{Addr: "127.0.0.1:2", PID: 2})
	if err != nil {
		t.Fatal(err)
	}
	remove1() // the first server stops: the second's announcement stays
	if a, err := readAnnouncement(path); err != nil || a.PID != 2 {
		t.Fatalf("after the first server's removal: %+v, %v", a, err)
	}
	remove2()
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("announcement still there: %v", err)
	}
}

func TestLocalAddr(t *testing.T) {
	tests := []struct {
		in   net.Addr
		want string
	}{
		{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 11435}, "127.0.0.1:11435"},
		{&net.TCPAddr{IP: net.IPv4zero, Port: 80}, "127.0.0.1:80"},
		{&net.TCPAddr{IP: net.IPv6unspecified, Port: 80}, "[::1]:80"},
		{&net.TCPAddr{IP: net.IPv4(192, 168, 1, 2), Port: 80}, "192.168.1.2:80"},
	}
	for _, tt := range tests {
		if got := LocalAddr(tt.in); got != tt.want {
			t.Errorf("LocalAddr(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
