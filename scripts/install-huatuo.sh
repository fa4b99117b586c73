#!/usr/bin/env bash
# Puts the `huatuo` command on the PATH: a small wrapper that runs this checkout's Release build of the command line
# (/usr/local/bin as root, else ~/.local/bin). Run after a Release build; scripts/up.sh does both.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dll="$root/src/HuatuoAspire.Cli/bin/Release/net10.0/huatuo.dll"
[[ -f "$dll" ]] || { echo "install-huatuo: $dll is not built yet (dotnet build -c Release)" >&2; exit 1; }
if [[ $(id -u) -eq 0 ]]; then bin=/usr/local/bin; else bin="$HOME/.local/bin"; mkdir -p "$bin"; fi
printf '#!/bin/sh\n# Written by %s/scripts/install-huatuo.sh\nexec dotnet "%s" "$@"\n' "$root" "$dll" > "$bin/huatuo"
chmod +x "$bin/huatuo"
case ":$PATH:" in *":$bin:"*) ;; *) echo "install-huatuo: add $bin to your PATH to use 'huatuo'" ;; esac
