#!/usr/bin/env bash
# Brings the whole system up on this machine: installs what is missing (PostgreSQL, Node.js, Azurite), builds,
# and runs the all-in-one host `huatuo up` (every service in one process, real PostgreSQL and Azurite on loopback,
# data kept in .data/). Ctrl+C stops everything cleanly. Arguments are passed to `huatuo up`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
scripts/prerequisites.sh
dotnet build src/HuatuoAspire.Cli/HuatuoAspire.Cli.csproj -c Release -nologo -clp:ErrorsOnly
exec dotnet src/HuatuoAspire.Cli/bin/Release/net10.0/huatuo.dll up "$@"
