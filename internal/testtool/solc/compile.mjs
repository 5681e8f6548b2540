// Compiles the .sol files of a folder with npm solc, resolving
// @openzeppelin imports from the installed package, and prints
// {"solc": version, "contracts": {Name: {"abi": [...], "bin": "hex"}}}.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import solc from 'solc';

const dir = process.argv[2];
const modules = fileURLToPath(new URL('./node_modules/', import.meta.url));
const sources = {};
for (const f of fs.readdirSync(dir).filter((f) => f.endsWith('.sol')).sort()) {
  sources[f] = { content: fs.readFileSync(path.join(dir, f), 'utf8') };
}
const input = {
  language: 'Solidity',
  sources,
  settings: {
    optimizer: { enabled: true, runs: 200 },
    evmVersion: 'cancun',
    outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object'] } },
  },
};
function findImports(p) {
  if (!p.startsWith('@openzeppelin/')) return { error: 'not found: ' + p };
  try {
    return { contents: fs.readFileSync(path.join(modules, p), 'utf8') };
  } catch (e) {
    return { error: String(e) };
  }
}
const out = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }));
const errors = (out.errors || []).filter((e) => e.severity === 'error');
if (errors.length) {
  console.error(errors.map((e) => e.formattedMessage).join('\n'));
  process.exit(1);
}
const contracts = {};
for (const f of Object.keys(sources)) {
  for (const [name, c] of Object.entries(out.contracts[f] || {})) {
    contracts[name] = { abi: c.abi, bin: c.evm.bytecode.object };
  }
}
process.stdout.write(JSON.stringify({ solc: solc.version(), contracts }));
