package store

import (
	"fmt"
	"net/url"
	"path"
	"strings"
)

// Kinds of pull reference.
const (
	RefHF    = "hf"    // hf.co/OWNER/REPO[:QUANT] or hf.co/OWNER/REPO/FILE.gguf
	RefURL   = "url"   // http(s)://…/x.gguf
	RefLocal = "local" // a file on this machine
)

// Ref is a parsed pull reference.
type Ref struct {
	Kind  string
	Owner string // hf
	Repo  string // hf
	Quant string // hf, may be empty
	File  string // hf: path inside the repo (may be empty); url: last path element
	URL   string // url
	Path  string // local
}

// ParseRef classifies a pull reference.
func ParseRef(ref string) (Ref, error) {
	ref = strings.TrimSpace(ref)
	if ref == "" {
		return Ref{}, fmt.Errorf("empty model reference: use hf.co/OWNER/REPO:QUANT, a https:// URL or a path to a .gguf file")
	}
	lower := strings.ToLower(ref)
	for _, p := range []string{"hf.co/", "huggingface.co/", "https://hf.co/", "https://huggingface.co/"} {
		if strings.HasPrefix(lower, p) && !strings.Contains(lower[len(p):], "/resolve/") {
			return parseHF(ref[len(p):], ref)
		}
	}
	if strings.HasPrefix(lower, "https://") || strings.HasPrefix(lower, "http://") {
		u, err := url.Parse(ref)
		if err != nil || u.Host == "" {
			return Ref{}, fmt.Errorf("%q is not a valid URL: use https://HOST/PATH/model.gguf", ref)
		}
		file := path.Base(u.Path)
		if file == "/" || file == "." {
			file = ""
		}
		return Ref{Kind: RefURL, URL: ref, File: file}, nil
	}
	if strings.Contains(ref, "://") {
		return Ref{}, fmt.Errorf("unsupported URL scheme in %q: use https://, hf.co/OWNER/REPO:QUANT or a local path", ref)
	}
	return Ref{Kind: RefLocal, Path: ref}, nil
}

func parseHF(rest, ref string) (Ref, error) {
	bad := fmt.Errorf("%q is not a Hugging Face model reference: use hf.co/OWNER/REPO:QUANT or hf.co/OWNER/REPO/FILE.gguf", ref)
	parts := strings.Split(strings.Trim(rest, "/"), "/")
	if len(parts) < 2 {
		return Ref{}, bad
	}
	r := Ref{Kind: RefHF, Owner: parts[0], Repo: parts[1]}
	if len(parts) == 2 {
		if i := strings.LastIndexByte(r.Repo, ':'); i >= 0 {
			r.Repo, r.Quant = r.Repo[:i], r.Repo[i+1:]
			if r.Quant == "" {
				return Ref{}, bad
			}
		}
	} else {
		r.File = strings.Join(parts[2:], "/")
		if !strings.HasSuffix(strings.ToLower(r.File), ".gguf") {
			return Ref{}, fmt.Errorf("%q does not name a .gguf file: use hf.co/OWNER/REPO/FILE.gguf or hf.co/OWNER/REPO:QUANT", ref)
		}
	}
	for _, p := range append([]string{r.Owner, r.Repo}, strings.Split(r.File, "/")...) {
		if p == "." || p == ".." || strings.ContainsAny(p, "?#\\") {
			return Ref{}, bad
		}
	}
	if r.Owner == "" || r.Repo == "" {
		return Ref{}, bad
	}
	return r, nil
}

// matchQuant reports whether file (a .gguf name) carries quant as a whole
// token, so "Q4_K" matches "m-Q4_K.gguf" but neither "m-Q4_K_M.gguf" nor
// "m-IQ4_K.gguf".
func matchQuant(file, quant string) bool {
	f, q := strings.ToLower(path.Base(file)), strings.ToLower(quant)
	for i := 0; ; {
		j := strings.Index(f[i:], q)
		if j < 0 {
			return false
		}
		j += i
		before := j == 0 || !isWordByte(f[j-1])
		end := j + len(q)
		after := end == len(f) || !isWordByte(f[end]) && f[end] != '_'
		if before && after {
			return true
		}
		i = j + 1
	}
}

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}
