package testtool

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
)

//go:embed solc/compile.mjs
var compileScript string

// Contract is one compiled contract: its ABI (JSON) and creation code.
type Contract struct {
	ABI json.RawMessage `json:"abi"`
	Bin string          `json:"bin"` // hex, no 0x
}

var solidity struct {
	sync.Mutex
	done map[string]map[string]Contract
}

// CompileSolidity compiles sources (file name → Solidity text, importing
// @openzeppelin/contracts) with npm solc, both installed by
// scripts/deps.d/node.sh, and returns the contracts by name. The output
// is cached in the build cache under the hash of the sources, the script
// and the installed package versions, so only the first run compiles.
// Without node or the packages the test is skipped, or fails under
// SOV_REQUIRE_TOOLS=1.
func CompileSolidity(t testing.TB, sources map[string][]byte) map[string]Contract {
	t.Helper()
	nodeDir := NodeClients(t)
	h := sha256.New()
	h.Write([]byte(compileScript))
	for _, name := range slices.Sorted(maps.Keys(sources)) {
		h.Write([]byte(name))
		h.Write(sources[name])
	}
	for _, pkg := range []string{"solc", "@openzeppelin/contracts"} {
		b, err := os.ReadFile(filepath.Join(nodeDir, "node_modules", pkg, "package.json"))
		if err != nil {
			msg := pkg + " is not installed: run `bash scripts/deps.d/node.sh` (or `make deps`)"
			if os.Getenv("SOV_REQUIRE_TOOLS") == "1" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
		h.Write(b)
	}
	key := hex.EncodeToString(h.Sum(nil))[:16]
	solidity.Lock()
	defer solidity.Unlock()
	if c, ok := solidity.done[key]; ok {
		return c
	}
	cache := filepath.Join(BuildCache(), "solidity", key+".json")
	out, err := os.ReadFile(cache)
	if err != nil {
		src := t.TempDir()
		for name, b := range sources {
			if err := os.WriteFile(filepath.Join(src, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		out = RunNode(t, compileScript, 5*time.Minute, nil, src)
		if err := os.MkdirAll(filepath.Dir(cache), 0o755); err != nil {
			t.Fatal(err)
		}
		// Written whole, then renamed: a parallel run never reads half.
		tmp, err := os.CreateTemp(filepath.Dir(cache), key+"-*.tmp")
		if err != nil {
			t.Fatal(err)
		}
		_, werr := tmp.Write(out)
		if cerr := tmp.Close(); werr != nil || cerr != nil {
			t.Fatal(werr, cerr)
		}
		if err := os.Rename(tmp.Name(), cache); err != nil {
			t.Fatal(err)
		}
	}
	var doc struct {
		Contracts map[string]Contract `json:"contracts"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatalf("compiled contracts %s: %v", cache, err)
	}
	if solidity.done == nil {
		solidity.done = map[string]map[string]Contract{}
	}
	solidity.done[key] = doc.Contracts
	return doc.Contracts
}
