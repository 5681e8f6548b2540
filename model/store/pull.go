package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sovos/sov/model/gguf"
)

// DefaultEndpoint is the Hugging Face base URL; EnvEndpoint overrides it.
const (
	DefaultEndpoint = "https://huggingface.co"
	EnvEndpoint     = "SOV_HF_ENDPOINT"
	EnvToken        = "HF_TOKEN"
)

// EndpointFromEnv returns SOV_HF_ENDPOINT or the default.
func EndpointFromEnv(getenv func(string) string) string {
	if v := strings.TrimRight(getenv(EnvEndpoint), "/"); v != "" {
		return v
	}
	return DefaultEndpoint
}

// Progress reports a transfer.
type Progress struct {
	Phase   string // "download", "copy" or "verify"
	File    string // file name being transferred
	Done    int64  // bytes present so far (including resumed ones)
	Total   int64  // expected bytes; -1 when unknown
	Resumed int64  // bytes already present when this transfer started
	Final   bool   // the last report of this phase
}

// ProgressFunc receives progress reports, at most about ten a second plus
// the final one.
type ProgressFunc func(Progress)

// PullOptions tune Pull.
type PullOptions struct {
	Name     string       // model name; derived from the file name when empty
	Link     bool         // local files: register in place instead of copying
	SHA256   string       // expected sha256 (hex); checked in addition to the server's
	Endpoint string       // Hugging Face base URL; DefaultEndpoint when empty
	Token    string       // Hugging Face token for gated or private repos
	Client   *http.Client // http.DefaultClient when nil
	Progress ProgressFunc
	// StallTimeout aborts a download that receives nothing for this long
	// (the .partial is kept for a resume); 0 means one minute.
	StallTimeout time.Duration
}

// defaultClient is http.DefaultTransport with a limit on waiting for
// response headers, so a server that accepts and says nothing cannot hang
// a pull forever (bodies are guarded by PullOptions.StallTimeout).
func defaultClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.ResponseHeaderTimeout = time.Minute
	return &http.Client{Transport: t}
}

// errStalled is the cancel cause of a download that stopped receiving data.
var errStalled = errors.New("no data received")

// Pull fetches or registers the model named by ref and returns it. A model
// whose name is already installed from the same source is returned as is.
func (s *Store) Pull(ctx context.Context, ref string, opts PullOptions) (Model, error) {
	r, err := ParseRef(ref)
	if err != nil {
		return Model{}, err
	}
	if opts.SHA256 != "" {
		opts.SHA256 = strings.ToLower(strings.TrimSpace(opts.SHA256))
		if !isSHA256(opts.SHA256) {
			return Model{}, kindf(ErrBadSHA256, "expected sha256 %q is not a sha256: give the 64 hex digits", opts.SHA256)
		}
	}
	if opts.Name != "" && !validName(opts.Name) {
		return Model{}, fmt.Errorf("model name %q is not allowed: use letters, digits, '.', '_' and '-' (up to 128)", opts.Name)
	}
	if opts.Link && r.Kind != RefLocal {
		return Model{}, kindf(ErrLinkRemote, "%s is not a local file: only local files can be linked in place", ref)
	}
	if opts.Client == nil {
		opts.Client = defaultClient()
	}
	if opts.StallTimeout <= 0 {
		opts.StallTimeout = time.Minute
	}
	if opts.Endpoint == "" {
		opts.Endpoint = DefaultEndpoint
	}
	opts.Endpoint = strings.TrimRight(opts.Endpoint, "/")
	switch r.Kind {
	case RefLocal:
		return s.pullLocal(ctx, r, opts)
	case RefURL:
		switch {
		case r.File == "" && opts.Name == "":
			return Model{}, kindf(ErrNoFileName, "cannot tell a file name from %s: use a URL ending in the .gguf file name, or give the model a name", ref)
		case r.File == "":
			r.File = opts.Name + ".gguf"
		}
		return s.pullRemote(ctx, ref, r.URL, r.File, "", -1, opts)
	default:
		file, sha, size, err := s.hfPick(ctx, r, opts)
		if err != nil {
			return Model{}, err
		}
		u := fmt.Sprintf("%s/%s/%s/resolve/main/%s", opts.Endpoint, url.PathEscape(r.Owner), url.PathEscape(r.Repo), escapePath(file))
		return s.pullRemote(ctx, ref, u, file, sha, size, opts)
	}
}

func escapePath(p string) string {
	parts := strings.Split(p, "/")
	for i := range parts {
		parts[i] = url.PathEscape(parts[i])
	}
	return strings.Join(parts, "/")
}

func isSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// existing returns the installed model called name when it came from
// source (so pulling twice is harmless), or an error when the name is taken
// or its file does not have the expected sha256.
func (s *Store) existing(ctx context.Context, name, source string, opts PullOptions) (Model, bool, error) {
	models, err := s.List()
	if err != nil {
		return Model{}, false, err
	}
	for _, m := range models {
		if m.Name != name {
			continue
		}
		switch {
		case m.Source == source && !m.Missing && opts.SHA256 != "":
			// The file is hashed, not its record: it may have changed since.
			sum, err := hashFile(ctx, m.Path, "verify", opts.Progress)
			if err == nil && sum != opts.SHA256 {
				err = &InstalledMismatchError{Model: m, Got: sum, Want: opts.SHA256}
			}
			return m, err == nil, err
		case m.Source == source && !m.Missing:
			return m, true, nil
		case m.Source == source:
			return Model{}, false, nil // its file is gone: fetch it again
		}
		return Model{}, false, &NameTakenError{name}
	}
	return Model{}, false, nil
}

func (s *Store) pullLocal(ctx context.Context, r Ref, opts PullOptions) (Model, error) {
	abs, err := filepath.Abs(r.Path)
	if err != nil {
		return Model{}, fmt.Errorf("model path %s: %w", r.Path, err)
	}
	st, err := os.Stat(abs)
	if errors.Is(err, os.ErrNotExist) {
		return Model{}, kindf(ErrNoSuchFile, "no such file %s: give the path to a .gguf file", r.Path)
	}
	if err != nil {
		return Model{}, fmt.Errorf("model path: %w", err)
	}
	if st.IsDir() {
		return Model{}, fmt.Errorf("%s is a directory: give the path to the .gguf file inside it", r.Path)
	}
	gf, err := gguf.Read(abs)
	if err != nil {
		return Model{}, err
	}
	name := opts.Name
	if name == "" {
		name = nameFromFile(abs)
	}
	if m, ok, err := s.existing(ctx, name, abs, opts); err != nil || ok {
		return m, err
	}
	m := Model{Name: name, Source: abs, Added: time.Now().UTC()}
	describe(&m, gf)
	if opts.Link {
		if opts.SHA256 != "" {
			sum, err := hashFile(ctx, abs, "verify", opts.Progress)
			if err != nil {
				return Model{}, err
			}
			if sum != opts.SHA256 {
				return Model{}, localMismatch(r.Path, sum, opts.SHA256)
			}
			m.SHA256 = sum
		}
		m.Path, m.Linked = abs, true
		return m, s.register(m)
	}
	dst := filepath.Join(s.dir, name+".gguf")
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return Model{}, fmt.Errorf("create %s: %w", s.dir, err)
	}
	if err := s.checkSpace(st.Size()); err != nil {
		return Model{}, err
	}
	sum, err := copyFile(ctx, abs, dst, st.Size(), opts.Progress)
	if err != nil {
		return Model{}, err
	}
	if opts.SHA256 != "" && sum != opts.SHA256 {
		os.Remove(dst)
		return Model{}, localMismatch(r.Path, sum, opts.SHA256)
	}
	m.Path, m.SHA256 = dst, sum
	if err := s.register(m); err != nil {
		os.Remove(dst)
		return Model{}, err
	}
	return m, nil
}

func localMismatch(path, got, want string) error {
	return kindf(ErrChecksum, "sha256 mismatch for %s: got %s, expected %s; nothing was registered", path, got, want)
}

// copyFile copies src to dst through a temporary file and returns its sha256.
func copyFile(ctx context.Context, src, dst string, size int64, progress ProgressFunc) (string, error) {
	in, err := os.Open(src)
	if err != nil {
		return "", fmt.Errorf("copy model: %w", err)
	}
	defer in.Close()
	tmp := dst + ".partial"
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return "", fmt.Errorf("copy model: %w", err)
	}
	h := sha256.New()
	pw := newProgressWriter(progress, "copy", filepath.Base(src), 0, size)
	_, err = io.Copy(io.MultiWriter(out, h, pw), ctxReader{ctx, in})
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, dst)
	}
	if err != nil {
		os.Remove(tmp)
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		return "", fmt.Errorf("copy model to %s: %w", dst, err)
	}
	pw.finish()
	return hex.EncodeToString(h.Sum(nil)), nil
}

func hashFile(ctx context.Context, p, phase string, progress ProgressFunc) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", fmt.Errorf("hash %s: %w", p, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("hash %s: %w", p, err)
	}
	h := sha256.New()
	pw := newProgressWriter(progress, phase, filepath.Base(p), 0, st.Size())
	if _, err := io.Copy(io.MultiWriter(h, pw), ctxReader{ctx, f}); err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		return "", fmt.Errorf("hash %s: %w", p, err)
	}
	pw.finish()
	return hex.EncodeToString(h.Sum(nil)), nil
}

// ctxReader stops a copy when ctx is cancelled.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

func (s *Store) checkSpace(need int64) error {
	if need <= 0 {
		return nil
	}
	free, err := s.freeSpace(s.dir)
	if err != nil {
		return err
	}
	// Keep a little headroom for the index and the file system itself.
	const headroom = 16 << 20
	if uint64(need)+headroom > free {
		return fmt.Errorf("not enough disk space in %s: the model needs %s, %s is free; free some space or set SOV_HOME to a larger disk", s.dir, FormatBytes(need), FormatBytes(int64(min(free, 1<<62))))
	}
	return nil
}

// hfSibling is one file in the Hugging Face model API's listing.
type hfSibling struct {
	RFilename string `json:"rfilename"`
	Size      int64  `json:"size"`
	LFS       *struct {
		SHA256 string `json:"sha256"`
		Size   int64  `json:"size"`
	} `json:"lfs"`
}

// hfPick lists the repository and chooses the file for r: the named file,
// the .gguf matching the quant, or the only .gguf there is.
func (s *Store) hfPick(ctx context.Context, r Ref, opts PullOptions) (file, sha string, size int64, err error) {
	repo := r.Owner + "/" + r.Repo
	u := fmt.Sprintf("%s/api/models/%s/%s?blobs=true", opts.Endpoint, url.PathEscape(r.Owner), url.PathEscape(r.Repo))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", "", 0, fmt.Errorf("list %s: %w", repo, err)
	}
	if opts.Token != "" {
		req.Header.Set("Authorization", "Bearer "+opts.Token)
	}
	resp, err := opts.Client.Do(req)
	if err != nil {
		return "", "", 0, netError(ctx, opts.Endpoint, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return "", "", 0, fmt.Errorf("Hugging Face repository %s not found (HTTP 404): check the name, or set %s for a private repository", repo, EnvToken)
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return "", "", 0, fmt.Errorf("access to %s denied (HTTP %d): accept its licence on Hugging Face and set %s to a token", repo, resp.StatusCode, EnvToken)
	case resp.StatusCode != http.StatusOK:
		return "", "", 0, fmt.Errorf("listing %s failed (HTTP %d from %s): try again later", repo, resp.StatusCode, opts.Endpoint)
	}
	var info struct {
		Siblings []hfSibling `json:"siblings"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&info); err != nil {
		return "", "", 0, fmt.Errorf("listing %s: unexpected answer from %s (%v): check %s", repo, opts.Endpoint, err, EnvEndpoint)
	}
	sort.Slice(info.Siblings, func(i, j int) bool { return info.Siblings[i].RFilename < info.Siblings[j].RFilename })
	var ggufs []hfSibling
	for _, sb := range info.Siblings {
		if strings.HasSuffix(strings.ToLower(sb.RFilename), ".gguf") {
			ggufs = append(ggufs, sb)
		}
	}
	pick := func(sb hfSibling) (string, string, int64, error) {
		size := sb.Size
		var sha string
		if sb.LFS != nil {
			sha = strings.ToLower(sb.LFS.SHA256)
			if sb.LFS.Size > 0 {
				size = sb.LFS.Size
			}
		}
		if size == 0 {
			size = -1
		}
		return sb.RFilename, sha, size, nil
	}
	if r.File != "" {
		for _, sb := range info.Siblings {
			if sb.RFilename == r.File {
				return pick(sb)
			}
		}
		return "", "", 0, fmt.Errorf("%s has no file %s: pick one of %s", repo, r.File, fileList(ggufs))
	}
	if len(ggufs) == 0 {
		return "", "", 0, fmt.Errorf("%s has no .gguf files: choose a repository with GGUF models (their names usually end in -GGUF)", repo)
	}
	var cands []hfSibling
	for _, sb := range ggufs {
		lower := strings.ToLower(path.Base(sb.RFilename))
		if strings.Contains(lower, "mmproj") {
			continue // vision projectors are not chat models
		}
		if r.Quant == "" || matchQuant(sb.RFilename, r.Quant) {
			cands = append(cands, sb)
		}
	}
	switch {
	case len(cands) == 1:
		return pick(cands[0])
	case len(cands) == 0 && r.Quant != "":
		return "", "", 0, fmt.Errorf("%s has no .gguf file for quantisation %s: pick one of %s", repo, r.Quant, fileList(ggufs))
	case len(cands) == 0:
		return "", "", 0, fmt.Errorf("%s has no model .gguf files: pick one of %s", repo, fileList(ggufs))
	}
	for _, c := range cands {
		if strings.Contains(strings.ToLower(c.RFilename), "-of-0") {
			return "", "", 0, fmt.Errorf("%s splits this model into several files (%s), which cannot be pulled yet: merge them with llama-gguf-split --merge and pull the merged file", repo, path.Base(c.RFilename))
		}
	}
	if r.Quant == "" {
		return "", "", 0, fmt.Errorf("%s has several .gguf files: add the quantisation, e.g. hf.co/%s:%s, or name a file: %s", repo, repo, guessQuant(cands[0].RFilename), fileList(cands))
	}
	return "", "", 0, fmt.Errorf("several files in %s match %s: name one with hf.co/%s/FILE.gguf: %s", repo, r.Quant, repo, fileList(cands))
}

func fileList(sbs []hfSibling) string {
	names := make([]string, 0, len(sbs))
	for _, sb := range sbs {
		names = append(names, sb.RFilename)
	}
	sort.Strings(names)
	if len(names) > 12 {
		names = append(names[:12], fmt.Sprintf("… (%d more)", len(names)-12))
	}
	if len(names) == 0 {
		return "(none)"
	}
	return strings.Join(names, ", ")
}

// guessQuant picks the last '-'/'.'-separated token of a file name, e.g.
// "Q4_K_M" from "model-Q4_K_M.gguf", for an example in an error message.
func guessQuant(file string) string {
	base := strings.TrimSuffix(path.Base(file), path.Ext(file))
	if i := strings.LastIndexAny(base, "-."); i >= 0 {
		return base[i+1:]
	}
	return "Q4_K_M"
}

func netError(ctx context.Context, endpoint string, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, io.EOF) {
		return fmt.Errorf("cannot reach %s (%v): check the network connection, or set %s to a mirror", endpoint, rootCause(err), EnvEndpoint)
	}
	return fmt.Errorf("request to %s failed: %w", endpoint, err)
}

func rootCause(err error) error {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err
		}
		err = u
	}
}

// partialMeta sits beside a .partial file so a resume only continues a
// download of the same thing.
type partialMeta struct {
	URL    string `json:"url"`
	SHA256 string `json:"sha256,omitempty"`
}

// pullRemote downloads u into <name>.gguf.partial (resuming with a Range
// request when one exists), verifies its sha256 and GGUF structure, renames
// it into place and registers it.
func (s *Store) pullRemote(ctx context.Context, source, u, file, sha string, size int64, opts PullOptions) (Model, error) {
	name := opts.Name
	if name == "" {
		name = nameFromFile(file)
	}
	if m, ok, err := s.existing(ctx, name, source, opts); err != nil || ok {
		return m, err
	}
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return Model{}, fmt.Errorf("create %s: %w", s.dir, err)
	}
	dst := filepath.Join(s.dir, name+".gguf")
	partial := dst + ".partial"
	lockPath := filepath.Join(s.dir, "."+name+".pull.lock")
	unlock, err := lockFile(lockPath, false)
	if errors.Is(err, errLocked) {
		return Model{}, fmt.Errorf("another pull is already downloading %s: wait for it to finish", name)
	}
	if err != nil {
		return Model{}, err
	}
	defer func() {
		// The lock file goes once nothing is left to resume.
		if _, err := os.Stat(partial); os.IsNotExist(err) {
			os.Remove(lockPath)
		}
		unlock()
	}()

	sum, serverSHA, err := s.download(ctx, u, partial, file, sha, size, opts)
	if err != nil {
		return Model{}, err
	}
	discard := func() {
		os.Remove(partial)
		os.Remove(partial + ".json")
	}
	for _, want := range []struct{ sha, from string }{{opts.SHA256, "expected"}, {serverSHA, "the server says"}} {
		if want.sha != "" && want.sha != sum {
			discard()
			return Model{}, kindf(ErrChecksum, "sha256 mismatch for %s: got %s, %s %s; the download was removed and nothing registered", file, sum, want.from, want.sha)
		}
	}
	gf, err := gguf.Read(partial)
	if err != nil {
		discard()
		var fe *gguf.FormatError
		if errors.As(err, &fe) {
			fe.Path = u
			return Model{}, fmt.Errorf("downloaded file rejected, nothing registered: %w", fe)
		}
		return Model{}, err
	}
	if err := os.Rename(partial, dst); err != nil {
		return Model{}, fmt.Errorf("install %s: %w", dst, err)
	}
	os.Remove(partial + ".json")
	m := Model{Name: name, Path: dst, SHA256: sum, Source: source, Added: time.Now().UTC()}
	describe(&m, gf)
	if err := s.register(m); err != nil {
		os.Remove(dst)
		return Model{}, err
	}
	return m, nil
}

// download fetches u into partial and returns the file's sha256 and the
// sha256 the server vouched for (listing or ETag; "" when none).
func (s *Store) download(ctx context.Context, u, partial, file, sha string, size int64, opts PullOptions) (sum, serverSHA string, err error) {
	meta := partialMeta{URL: u, SHA256: sha}
	var offset int64
	if old, err := os.ReadFile(partial + ".json"); err == nil {
		var pm partialMeta
		if json.Unmarshal(old, &pm) == nil && pm == meta {
			if st, err := os.Stat(partial); err == nil {
				offset = st.Size()
			}
		}
	}
	if offset == 0 {
		os.Remove(partial)
		data, _ := json.Marshal(meta)
		if err := os.WriteFile(partial+".json", data, 0o600); err != nil {
			return "", "", fmt.Errorf("start download: %w", err)
		}
	}
	// dctx is cancelled by the stall watchdog in receive.
	dctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	for attempt := 0; ; attempt++ {
		resp, err := s.get(dctx, u, offset, opts)
		if err != nil {
			return "", "", err
		}
		if resp.StatusCode == http.StatusRequestedRangeNotSatisfiable && attempt == 0 {
			// The partial file is no use (already complete or changed
			// upstream): start again from zero.
			resp.Body.Close()
			offset = 0
			os.Remove(partial)
			continue
		}
		defer resp.Body.Close()
		sum, serverSHA, err = s.receive(ctx, dctx, cancel, resp, u, partial, file, sha, size, offset, opts)
		return sum, serverSHA, err
	}
}

func (s *Store) get(ctx context.Context, u string, offset int64, opts PullOptions) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("download %s: %w", u, err)
	}
	if opts.Token != "" && strings.HasPrefix(u, opts.Endpoint+"/") {
		req.Header.Set("Authorization", "Bearer "+opts.Token)
	}
	if offset > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", offset))
	}
	resp, err := opts.Client.Do(req)
	if err != nil {
		host := u
		if pu, perr := url.Parse(u); perr == nil {
			host = pu.Scheme + "://" + pu.Host
		}
		return nil, netError(ctx, host, err)
	}
	return resp, nil
}

func (s *Store) receive(ctx, dctx context.Context, cancel context.CancelCauseFunc, resp *http.Response, u, partial, file, sha string, size, offset int64, opts PullOptions) (string, string, error) {
	switch resp.StatusCode {
	case http.StatusOK:
		offset = 0 // the server ignored the Range: start over
	case http.StatusPartialContent:
		start, err := contentRangeStart(resp.Header.Get("Content-Range"))
		if err != nil || start != offset {
			return "", "", fmt.Errorf("download %s: the server resumed at the wrong place (%q): delete %s and pull again", file, resp.Header.Get("Content-Range"), partial)
		}
	case http.StatusNotFound:
		return "", "", fmt.Errorf("%s not found (HTTP 404): check the reference", u)
	case http.StatusUnauthorized, http.StatusForbidden:
		return "", "", fmt.Errorf("access to %s denied (HTTP %d): accept the model's licence on Hugging Face and set %s to a token", u, resp.StatusCode, EnvToken)
	default:
		if resp.StatusCode == http.StatusRequestedRangeNotSatisfiable {
			os.Remove(partial)
		}
		return "", "", fmt.Errorf("download %s failed (HTTP %d): try again later", u, resp.StatusCode)
	}
	serverSHA := sha
	if serverSHA == "" {
		serverSHA = etagSHA(resp)
	}
	total := size
	if resp.ContentLength >= 0 {
		total = offset + resp.ContentLength
	}
	if err := s.checkSpace(total - offset); err != nil {
		return "", "", err
	}
	flags := os.O_CREATE | os.O_WRONLY
	if offset == 0 {
		flags |= os.O_TRUNC
	}
	f, err := os.OpenFile(partial, flags, 0o600)
	if err != nil {
		return "", "", fmt.Errorf("download %s: %w", file, err)
	}
	defer f.Close()
	h := sha256.New()
	if offset > 0 {
		if err := hashPrefix(h, f, offset); err != nil {
			return "", "", fmt.Errorf("resume %s: %w (delete %s and pull again)", file, err, partial)
		}
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return "", "", fmt.Errorf("download %s: %w", file, err)
	}
	pw := newProgressWriter(opts.Progress, "download", file, offset, total)
	watchdog := time.AfterFunc(opts.StallTimeout, func() { cancel(errStalled) })
	n, copyErr := io.Copy(io.MultiWriter(f, h, pw, resetWriter{watchdog, opts.StallTimeout}), resp.Body)
	watchdog.Stop()
	if err := f.Sync(); err != nil && copyErr == nil {
		copyErr = err
	}
	got := offset + n
	if copyErr == nil && total >= 0 && got != total {
		copyErr = io.ErrUnexpectedEOF
	}
	if copyErr != nil {
		if ctx.Err() != nil {
			return "", "", ctx.Err()
		}
		cause := rootCause(copyErr)
		if errors.Is(context.Cause(dctx), errStalled) {
			cause = fmt.Errorf("%w for %s", errStalled, opts.StallTimeout)
		}
		return "", "", kindf(ErrInterrupted, "download of %s interrupted after %s of %s (%v)", file, FormatBytes(got), sizeText(total), cause)
	}
	pw.finish()
	return hex.EncodeToString(h.Sum(nil)), serverSHA, nil
}

func sizeText(n int64) string {
	if n < 0 {
		return "an unknown size"
	}
	return FormatBytes(n)
}

// hashPrefix feeds the first n bytes of f into h.
func hashPrefix(h hash.Hash, f *os.File, n int64) error {
	r, err := os.Open(f.Name())
	if err != nil {
		return err
	}
	defer r.Close()
	if _, err := io.CopyN(h, r, n); err != nil {
		return err
	}
	return nil
}

func contentRangeStart(v string) (int64, error) {
	// "bytes START-END/TOTAL"
	v = strings.TrimPrefix(v, "bytes ")
	i := strings.IndexByte(v, '-')
	if i < 0 {
		return 0, fmt.Errorf("bad Content-Range %q", v)
	}
	return strconv.ParseInt(v[:i], 10, 64)
}

// etagSHA returns the sha256 Hugging Face puts in X-Linked-Etag (or ETag)
// for LFS files, looking through redirects too; "" when there is none.
func etagSHA(resp *http.Response) string {
	for r := resp; r != nil; {
		for _, h := range []string{"X-Linked-Etag", "ETag"} {
			v := strings.Trim(strings.TrimPrefix(r.Header.Get(h), "W/"), `"`)
			if v = strings.ToLower(v); isSHA256(v) {
				return v
			}
		}
		if r.Request == nil {
			break
		}
		r = r.Request.Response
	}
	return ""
}

// resetWriter restarts the stall watchdog whenever data arrives.
type resetWriter struct {
	t *time.Timer
	d time.Duration
}

func (w resetWriter) Write(b []byte) (int, error) {
	w.t.Reset(w.d)
	return len(b), nil
}

// progressWriter turns written bytes into throttled Progress reports.
type progressWriter struct {
	fn   ProgressFunc
	p    Progress
	last time.Time
}

func newProgressWriter(fn ProgressFunc, phase, file string, offset, total int64) *progressWriter {
	pw := &progressWriter{fn: fn, p: Progress{Phase: phase, File: file, Done: offset, Total: total, Resumed: offset}}
	if fn != nil {
		fn(pw.p)
		pw.last = time.Now()
	}
	return pw
}

func (w *progressWriter) Write(b []byte) (int, error) {
	w.p.Done += int64(len(b))
	if w.fn != nil && time.Since(w.last) >= 100*time.Millisecond {
		w.last = time.Now()
		w.fn(w.p)
	}
	return len(b), nil
}

func (w *progressWriter) finish() {
	if w.fn != nil {
		w.p.Final = true
		w.fn(w.p)
	}
}
