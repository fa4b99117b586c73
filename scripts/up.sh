#!/usr/bin/env bash
# Brings the whole system up on this machine, the F5 way: installs what is missing (PostgreSQL, Node.js, Azurite),
# builds, installs the `huatuo` command, and runs the Aspire AppHost: the Aspire dashboard, PostgreSQL and Azurite
# (containers when a container runtime answers, else executables here), migrations, then every service as its own
# process. Ctrl+C stops everything. Arguments go to the AppHost (e.g. --Parameters:llm-url=https://...).
#   scripts/up.sh --one-process [huatuo up options]   every service in one process instead (`huatuo up`)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
scripts/prerequisites.sh
if [[ "${1:-}" == "--one-process" ]]; then
  shift
  dotnet build src/HuatuoAspire.Cli/HuatuoAspire.Cli.csproj -c Release -nologo -clp:ErrorsOnly
  scripts/install-huatuo.sh
  exec dotnet src/HuatuoAspire.Cli/bin/Release/net10.0/huatuo.dll up "$@"
fi
dotnet build HuatuoAspire.AppHost/HuatuoAspire.AppHost.csproj -c Release -nologo -clp:ErrorsOnly
scripts/install-huatuo.sh
exec dotnet run --project HuatuoAspire.AppHost -c Release --no-build --launch-profile http -- "$@"
