#!/usr/bin/env bash
# Installs provisioner from this checkout, for people who want a `provisioner` command rather than `dotnet run`:
#
#   scripts/install.sh                        # into /usr/local (needs root, or write access to /usr/local)
#   PREFIX=$HOME/.local scripts/install.sh    # without root: any PREFIX you can write to
#
# Needs the .NET 10 SDK (`dotnet`) to build, and the .NET 10 ASP.NET Core runtime to run. Lays out:
#   $PREFIX/lib/provisioner/      the program (`dotnet publish` output), with the shipped ignition-templates/ that
#                                 `provisioner` uses when the profiles have no ignition-templates/ beside them
#   $PREFIX/bin/provisioner       a wrapper that runs it
#   $PREFIX/share/provisioner/    the example profiles/ and ignition-templates/, to copy and edit for a site
# Running it again replaces the program and the examples (never a copy you made of them).
set -euo pipefail
cd "$(dirname "$0")/.."

PREFIX="${PREFIX:-/usr/local}"
PREFIX="${PREFIX%/}"
lib="$PREFIX/lib/provisioner"
share="$PREFIX/share/provisioner"
bin="$PREFIX/bin"

dotnet="$(command -v dotnet || true)"
if [ -z "$dotnet" ]; then
  echo "install.sh: 'dotnet' not found; install the .NET 10 SDK first (https://learn.microsoft.com/dotnet/core/install/linux-debian)" >&2
  exit 1
fi

if ! mkdir -p "$lib" "$share" "$bin" 2>/dev/null || [ ! -w "$lib" ] || [ ! -w "$share" ] || [ ! -w "$bin" ]; then
  echo "install.sh: cannot write below $PREFIX; run it with sudo, or choose a PREFIX you can write to, e.g. PREFIX=\$HOME/.local $0" >&2
  exit 1
fi

# Publish beside the target and swap, so a failed build leaves the installed program as it was.
stage="$lib.new.$$"
trap 'rm -rf "$stage"' EXIT
"$dotnet" publish src/Provisioner/Provisioner.csproj -c Release -o "$stage" --nologo -v quiet
test -f "$stage/ignition-templates/bootstrap/config.yaml" || { echo "install.sh: the publish output has no ignition-templates/" >&2; exit 1; }
rm -rf "$lib"
mv "$stage" "$lib"

rm -rf "$share/profiles" "$share/ignition-templates"
cp -R profiles ignition-templates "$share/"

# The dotnet found now, by absolute path: a systemd unit or sudo may run with a PATH that lacks it.
cat > "$bin/provisioner.new" <<WRAPPER
#!/bin/sh
# Installed by provisioner's scripts/install.sh; runs the program in $lib.
exec "\${DOTNET:-$dotnet}" "$lib/provisioner.dll" "\$@"
WRAPPER
chmod 0755 "$bin/provisioner.new"
mv "$bin/provisioner.new" "$bin/provisioner"

echo "installed provisioner into $lib"
echo "  command:  $bin/provisioner$(case ":$PATH:" in *":$bin:"*) ;; *) echo " (add $bin to PATH)";; esac)"
echo "  examples: $share/profiles, $share/ignition-templates"
echo "try: cp -R $share/profiles ./profiles && $bin/provisioner validate --profiles profiles"
