package daotest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sovos/sov/internal/testtool"
)

// verifyScript checks envelopes with snapshot.js 0.17.5's own functions:
// the types' JSON hashes to an entry of its hashedTypes.json (what the
// sequencer accepts), utils.verify recovers the signer, and a vote's
// signer is its from or an alias that from authorised in a verified Alias
// envelope of the same set.
const verifyScript = `
import snapshot from '@snapshot-labs/snapshot.js';
import { createRequire } from 'module';
import { createHash } from 'crypto';
import { readFileSync } from 'fs';
const require = createRequire(import.meta.url);
const hashedTypes = require('@snapshot-labs/snapshot.js/src/sign/hashedTypes.json');
const envs = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const aliases = new Set();
const out = [];
for (const env of envs) {
  const kind = hashedTypes[createHash('sha256').update(JSON.stringify(env.data.types)).digest('hex')] || null;
  let sig = false;
  try { sig = await snapshot.utils.verify(env.address, env.sig, env.data); } catch (e) { sig = false; }
  const d = env.data.domain;
  const domain = d.name === 'snapshot' && d.version === '0.1.4' && Object.keys(d).length === 2;
  if (kind === 'alias' && sig && env.address.toLowerCase() === env.data.message.from.toLowerCase())
    aliases.add(env.data.message.from.toLowerCase() + '>' + env.data.message.alias.toLowerCase());
  out.push({ kind, sig, domain, env });
}
const res = out.map(({ kind, sig, domain, env }) => {
  const m = env.data.message;
  let authorised = true, app = true, reason = true;
  if (kind && kind.startsWith('vote')) {
    authorised = env.address.toLowerCase() === m.from.toLowerCase() || aliases.has(m.from.toLowerCase() + '>' + env.address.toLowerCase());
    app = m.app === 'sov';
    reason = typeof m.reason === 'string' && m.reason.length > 0;
  }
  return { kind, sig, domain, authorised, app, reason, ok: !!kind && sig && domain && authorised && app && reason };
});
console.log(JSON.stringify(res));
`

// Verdict is the verifier's word on one envelope.
type Verdict struct {
	Kind       string `json:"kind"` // hashedTypes' name: vote, vote-array, vote-string, alias; "" unknown
	Sig        bool   `json:"sig"`
	Domain     bool   `json:"domain"`
	Authorised bool   `json:"authorised"`
	App        bool   `json:"app"`
	Reason     bool   `json:"reason"`
	OK         bool   `json:"ok"`
}

// Verify runs snapshot.js's verification over envelopes (JSON each) and
// returns a verdict per envelope, in order.
func Verify(t testing.TB, envelopes []json.RawMessage) []Verdict {
	t.Helper()
	f := filepath.Join(t.TempDir(), "envelopes.json")
	b, err := json.Marshal(envelopes)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f, b, 0o600); err != nil {
		t.Fatal(err)
	}
	out := testtool.RunNode(t, verifyScript, 2*time.Minute, nil, f)
	var vs []Verdict
	if err := json.Unmarshal(out, &vs); err != nil {
		t.Fatalf("verifier output %q: %v", out, err)
	}
	return vs
}
