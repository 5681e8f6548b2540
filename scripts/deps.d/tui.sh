#!/usr/bin/env bash
# tmux drives the shell's end-to-end tests (tui, cmd/sov TestTUI*).
# Idempotent: does nothing when tmux is already on PATH.
set -euo pipefail
command -v tmux >/dev/null 2>&1 && exit 0
SUDO=""
if [ "$(id -u)" != 0 ]; then
	SUDO="sudo"
fi
if command -v apt-get >/dev/null 2>&1; then
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq tmux >/dev/null
elif command -v dnf >/dev/null 2>&1; then
	$SUDO dnf install -y -q tmux
elif command -v brew >/dev/null 2>&1; then
	brew install tmux
else
	echo "tui.sh: cannot install tmux on this system: install it with your package manager" >&2
	exit 1
fi
command -v tmux >/dev/null 2>&1 || { echo "tui.sh: tmux still missing after install" >&2; exit 1; }
