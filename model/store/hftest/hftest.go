// Package hftest is a loopback stand-in for the Hugging Face Hub, for
// tests: it speaks the two HTTP shapes sov uses — the model API listing
// (GET /api/models/OWNER/REPO?blobs=true) and file downloads
// (GET /OWNER/REPO/resolve/main/FILE, answered like the Hub with a redirect
// carrying X-Linked-Etag to a CDN-like URL that honours Range requests).
package hftest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"
)

// File is one file in a repository.
type File struct {
	Data []byte
	// SHA256 is what the server claims; empty means the true digest. A
	// wrong value simulates a corrupted transfer.
	SHA256 string
}

// Request is what the server saw of one download request.
type Request struct {
	Path  string
	Range string
}

// Server is a running loopback hub.
type Server struct {
	*httptest.Server
	mu    sync.Mutex
	repos map[string]map[string]File // "owner/repo" -> file -> contents
	plain map[string]File            // "/files/NAME" served without the Hub's shapes
	// dropAfter > 0 cuts the next download after that many bytes; with
	// stall set the connection stays open and silent instead.
	dropAfter int64
	stall     bool
	downloads []Request
}

// New starts a server; Close it when done.
func New() *Server {
	s := &Server{repos: map[string]map[string]File{}, plain: map[string]File{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// Add puts a file into repo ("owner/repo").
func (s *Server) Add(repo, name string, f File) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.repos[repo] == nil {
		s.repos[repo] = map[string]File{}
	}
	s.repos[repo][name] = f
}

// AddPlain serves f at /files/NAME with its sha256 as the ETag, like a
// plain web server or object store.
func (s *Server) AddPlain(name string, f File) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.plain[name] = f
	return s.URL + "/files/" + name
}

// DropNextAfter makes the next download stop after n bytes, the
// connection closed as if the network failed.
func (s *Server) DropNextAfter(n int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dropAfter = n
}

// StallNextAfter makes the next download send n bytes and then nothing,
// keeping the connection open until the client gives up (at most 30s).
func (s *Server) StallNextAfter(n int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dropAfter, s.stall = n, true
}

// Downloads returns the download requests seen so far (CDN side).
func (s *Server) Downloads() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.downloads...)
}

func digest(f File) string {
	if f.SHA256 != "" {
		return f.SHA256
	}
	sum := sha256.Sum256(f.Data)
	return hex.EncodeToString(sum[:])
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case strings.HasPrefix(p, "/api/models/"):
		s.listing(w, strings.TrimPrefix(p, "/api/models/"))
	case strings.HasPrefix(p, "/cdn/"):
		// /cdn/OWNER/REPO/FILE
		parts := strings.SplitN(strings.TrimPrefix(p, "/cdn/"), "/", 3)
		if len(parts) != 3 {
			http.NotFound(w, r)
			return
		}
		f, ok := s.file(parts[0]+"/"+parts[1], parts[2])
		if !ok {
			http.NotFound(w, r)
			return
		}
		s.content(w, r, f, `"cdn-`+strconv.Itoa(len(f.Data))+`"`)
	case strings.HasPrefix(p, "/files/"):
		s.mu.Lock()
		f, ok := s.plain[strings.TrimPrefix(p, "/files/")]
		s.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		s.content(w, r, f, `"`+digest(f)+`"`)
	default:
		// /OWNER/REPO/resolve/main/FILE
		parts := strings.SplitN(strings.TrimPrefix(p, "/"), "/", 5)
		if len(parts) != 5 || parts[2] != "resolve" || parts[3] != "main" {
			http.NotFound(w, r)
			return
		}
		f, ok := s.file(parts[0]+"/"+parts[1], parts[4])
		if !ok {
			w.Header().Set("X-Error-Code", "EntryNotFound")
			http.Error(w, "Entry not found", http.StatusNotFound)
			return
		}
		w.Header().Set("X-Linked-Etag", `"`+digest(f)+`"`)
		w.Header().Set("X-Linked-Size", strconv.Itoa(len(f.Data)))
		w.Header().Set("Location", "/cdn/"+parts[0]+"/"+parts[1]+"/"+parts[4])
		w.WriteHeader(http.StatusFound)
	}
}

func (s *Server) file(repo, name string) (File, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.repos[repo][name]
	return f, ok
}

func (s *Server) listing(w http.ResponseWriter, repo string) {
	s.mu.Lock()
	files, ok := s.repos[repo]
	type lfs struct {
		SHA256      string `json:"sha256"`
		Size        int    `json:"size"`
		PointerSize int    `json:"pointerSize"`
	}
	type sibling struct {
		RFilename string `json:"rfilename"`
		BlobID    string `json:"blobId"`
		Size      int    `json:"size"`
		LFS       *lfs   `json:"lfs,omitempty"`
	}
	var sibs []sibling
	for name, f := range files {
		sb := sibling{RFilename: name, BlobID: fmt.Sprintf("%040x", len(f.Data)), Size: len(f.Data)}
		if strings.HasSuffix(name, ".gguf") {
			sb.LFS = &lfs{SHA256: digest(f), Size: len(f.Data), PointerSize: 134}
		}
		sibs = append(sibs, sb)
	}
	s.mu.Unlock()
	if !ok {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte(`{"error":"Repository not found"}`))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"id": repo, "modelId": repo, "siblings": sibs})
}

// content serves f honouring Range, or cuts it short when a drop is armed.
func (s *Server) content(w http.ResponseWriter, r *http.Request, f File, etag string) {
	s.mu.Lock()
	s.downloads = append(s.downloads, Request{Path: r.URL.Path, Range: r.Header.Get("Range")})
	drop, stall := s.dropAfter, s.stall
	s.dropAfter, s.stall = 0, false
	s.mu.Unlock()
	if drop > 0 && drop < int64(len(f.Data)) {
		w.Header().Set("Content-Length", strconv.Itoa(len(f.Data)))
		w.Header().Set("Accept-Ranges", "bytes")
		w.WriteHeader(http.StatusOK)
		w.Write(f.Data[:drop])
		if fl, ok := w.(http.Flusher); ok {
			fl.Flush()
		}
		if stall {
			select {
			case <-r.Context().Done():
			case <-time.After(30 * time.Second):
			}
		}
		panic(http.ErrAbortHandler) // closes the connection mid-body
	}
	w.Header().Set("ETag", etag)
	http.ServeContent(w, r, "", time.Time{}, strings.NewReader(string(f.Data)))
}
