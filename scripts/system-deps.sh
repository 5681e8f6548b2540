#!/usr/bin/env bash
# Installs the system tools the build needs when they are missing.
set -euo pipefail
need=()
command -v cmake >/dev/null || need+=(cmake)
command -v ninja >/dev/null || need+=(ninja-build)
command -v git >/dev/null || need+=(git)
command -v cc >/dev/null || need+=(build-essential)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(uname -s)" = Darwin ]; then
  echo "system-deps: please install ${need[*]} (brew install cmake ninja)" >&2
  exit 1
fi
SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo
echo "system-deps: installing ${need[*]}" >&2
$SUDO apt-get update -qq >/dev/null
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
