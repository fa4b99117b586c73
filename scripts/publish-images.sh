#!/usr/bin/env bash
# Builds and pushes one container image per service with `dotnet publish -t:PublishContainer` (no Docker daemon
# needed): huatuo-trainer and huatuo-inference with the CUDA libtorch backend, huatuo-cli, huatuo-workers and
# huatuo-dashboard on CPU, all tagged with the commit. infra/main.bicep deploys them (parameter imageTag).
#
#   scripts/publish-images.sh REGISTRY [TAG]      e.g. scripts/publish-images.sh myregistry.azurecr.io
#
# Credentials: DOTNET_CONTAINER_REGISTRY_UNAME / DOTNET_CONTAINER_REGISTRY_PWORD, or a docker credential helper
# (README, "Deploy to Azure Container Apps"). The CUDA build needs a NuGet source serving TorchSharp-cuda-linux.
set -euo pipefail
registry="${1:?usage: scripts/publish-images.sh REGISTRY [TAG]}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ -n "${2:-}" ]]; then
  tag="$2"
else
  # A tag names exactly one source tree: refuse to tag uncommitted changes with a commit.
  [[ -z "$(git -C "$root" status --porcelain --untracked-files=no)" ]] || { echo "publish-images: uncommitted changes; commit them or pass a TAG" >&2; exit 2; }
  tag="$(git -C "$root" rev-parse --short=12 HEAD)"
fi

for service in Cli:cpu Workers:cpu Dashboard:cpu Trainer:cuda Inference:cuda; do
  project="${service%%:*}" backend="${service##*:}"
  echo "publish-images: HuatuoAspire.$project ($backend) -> $registry:$tag"
  dotnet publish "$root/src/HuatuoAspire.$project/HuatuoAspire.$project.csproj" -c Release -t:PublishContainer \
    --os linux --arch x64 -p:TorchBackend="$backend" \
    -p:ContainerRegistry="$registry" -p:ContainerImageTags="$tag" -nologo -clp:ErrorsOnly
done
echo "publish-images: pushed tag $tag (deploy with imageTag=$tag)"
