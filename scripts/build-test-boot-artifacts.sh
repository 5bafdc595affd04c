#!/usr/bin/env bash
# Builds a tiny network-boot payload for the QEMU boot tests:
#   OUTDIR/vmlinuz         Debian's stock amd64 kernel (from the linux-image-amd64 metapackage's target)
#   OUTDIR/initramfs.img   gzip'd newc cpio: static busybox + e1000 module + scripts/testboot/init, plus curl and jq
#                          with their shared libraries, copied from this host (Debian's packages)
# The initramfs fetches ignition.config.url, follows a pointer config over HTTPS trusting only the CA it pins
# (curl verifies; busybox wget would not), prints PROVISIONER-IGNITION-SHA256=<hex>, POSTs a progress report
# and powers off (see scripts/testboot/init).
#
# Usage: scripts/build-test-boot-artifacts.sh OUTDIR
# Needs: apt-get (download only, no install and no root), dpkg-deb, cpio, gzip, ldd, and curl and jq
# installed on this host (scripts/install-test-deps.sh); xz/zstd only if
# the kernel ships compressed modules. Cached: nothing is done when both outputs are newer than
# this script and the files in scripts/testboot/.
set -euo pipefail

# NIC drivers for QEMU's e1000 model; dependencies are added from modules.dep.
NIC_MODULES=(e1000)

usage() { echo "usage: $0 OUTDIR" >&2; exit 2; }
[[ $# -eq 1 ]] || usage
outdir=$1
script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
testboot_dir=$script_dir/testboot
script_path=$script_dir/$(basename "${BASH_SOURCE[0]}")

up_to_date() {
    local out
    for out in "$outdir/vmlinuz" "$outdir/initramfs.img"; do
        [[ -s $out ]] || return 1
        for src in "$script_path" "$testboot_dir"/*; do
            [[ $out -nt $src ]] || return 1
        done
    done
}

if up_to_date; then
    echo "test boot artifacts are up to date in $outdir"
    exit 0
fi

for tool in apt-get apt-cache dpkg-deb cpio gzip ldd curl jq; do
    command -v "$tool" >/dev/null || { echo "error: $tool is required" >&2; exit 1; }
done

mkdir -p "$outdir"
work=$(mktemp -d "${TMPDIR:-/tmp}/testboot.XXXXXX")
trap 'rm -rf "$work"' EXIT
# apt's _apt sandbox user must be able to write the download dir (avoids a warning as root).
chmod 755 "$work"
mkdir "$work/debs"
chmod 777 "$work/debs"

# Resolve the concrete kernel package the metapackage currently points at.
kernel_pkg=$(apt-cache show --no-all-versions linux-image-amd64 \
    | sed -n 's/^Depends:.*\b\(linux-image-[0-9][^ ,]*-amd64\)\b.*/\1/p' | head -n 1)
[[ -n $kernel_pkg ]] || { echo "error: cannot resolve linux-image-amd64 to a kernel package (apt-get update?)" >&2; exit 1; }
echo "kernel package: $kernel_pkg"

(cd "$work/debs" && apt-get download -q "$kernel_pkg" busybox-static)

kroot=$work/kernel
broot=$work/busybox
dpkg-deb -x "$work"/debs/"${kernel_pkg}"_*.deb "$kroot"
dpkg-deb -x "$work"/debs/busybox-static_*.deb "$broot"

kver=${kernel_pkg#linux-image-}
busybox=$broot/bin/busybox
[[ -x $busybox ]] || { echo "error: busybox-static did not contain /bin/busybox" >&2; exit 1; }
vmlinuz=$kroot/boot/vmlinuz-$kver
[[ -f $vmlinuz ]] || { echo "error: $vmlinuz not found in $kernel_pkg" >&2; exit 1; }

moddir=""
for candidate in "$kroot/lib/modules/$kver" "$kroot/usr/lib/modules/$kver"; do
    [[ -d $candidate ]] && moddir=$candidate && break
done
[[ -n $moddir ]] || { echo "error: no modules directory for $kver" >&2; exit 1; }

# Newer Debian kernels compress modules; busybox insmod in the initramfs wants plain .ko files.
# Decompress every module up front so depmod and the copies below see one naming scheme.
if find "$moddir" -name '*.ko.xz' -print -quit | grep -q .; then
    find "$moddir" -name '*.ko.xz' -exec xz -d {} +
fi
if find "$moddir" -name '*.ko.zst' -print -quit | grep -q .; then
    find "$moddir" -name '*.ko.zst' -exec zstd -q -d --rm {} +
fi
if find "$moddir" -name '*.ko.gz' -print -quit | grep -q .; then
    find "$moddir" -name '*.ko.gz' -exec gunzip {} +
fi

# Debian's package has no modules.dep (postinst runs depmod); generate it with busybox depmod.
modules_base=${moddir%/lib/modules/"$kver"}
[[ -f $moddir/modules.dep ]] || "$busybox" depmod -b "$modules_base" "$kver"

# Emit MODULE's dependencies (depth first), then MODULE, each as a path relative to $moddir.
declare -A seen=()
load_order=()
resolve() {
    local rel=$1 line dep
    [[ -n ${seen[$rel]:-} ]] && return 0
    seen[$rel]=1
    line=$(grep -m 1 "^${rel}:" "$moddir/modules.dep") || { echo "error: $rel not in modules.dep" >&2; exit 1; }
    for dep in ${line#*:}; do
        resolve "$dep"
    done
    load_order+=("$rel")
}
for mod in "${NIC_MODULES[@]}"; do
    rel=$(grep -m 1 -E "^([^:]*/)?${mod}\.ko:" "$moddir/modules.dep" | cut -d : -f 1) || true
    if [[ -z $rel ]]; then
        # Built into the kernel: nothing to load.
        grep -q "/${mod}\.ko$" "$moddir/modules.builtin" 2>/dev/null && continue
        echo "error: module $mod not found for $kver" >&2
        exit 1
    fi
    resolve "$rel"
done

root=$work/initramfs
mkdir -p "$root"/{bin,dev,proc,sys,tmp,run,etc,lib/modules}
cp "$busybox" "$root/bin/busybox"
ln -s busybox "$root/bin/sh"
install -m 0755 "$testboot_dir/init" "$root/init"
install -m 0755 "$testboot_dir/udhcpc.script" "$root/etc/udhcpc.script"
: > "$root/lib/modules/load-order"
for rel in "${load_order[@]}"; do
    cp "$moddir/$rel" "$root/lib/modules/"
    basename "$rel" >> "$root/lib/modules/load-order"
done
echo "modules: $(tr '\n' ' ' < "$root/lib/modules/load-order")"

# A verifying HTTPS client (curl, OpenSSL) and a JSON reader (jq) for following pointer configs, with every shared
# library they load; the init sets LD_LIBRARY_PATH=/lib. The loader keeps its absolute path (the ELF interpreter).
copy_with_libraries() {
    local program lib
    program=$(command -v "$1")
    cp -L "$program" "$root/bin/$1"
    for lib in $(ldd "$program" | awk '/=> \// { print $3 } /^[[:space:]]*\/[^ ]*ld-linux/ { print $1 }'); do
        case $lib in
            */ld-linux*) mkdir -p "$root$(dirname "$lib")"; cp -L "$lib" "$root$lib" ;;
            *) cp -L "$lib" "$root/lib/" ;;
        esac
    done
}
copy_with_libraries curl
copy_with_libraries jq

# Write to temporaries and rename, so an interrupted run never leaves a "fresh" broken output.
(cd "$root" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc -R 0:0 --quiet) \
    | gzip -9 > "$outdir/initramfs.img.tmp"
cp "$vmlinuz" "$outdir/vmlinuz.tmp"
mv "$outdir/vmlinuz.tmp" "$outdir/vmlinuz"
mv "$outdir/initramfs.img.tmp" "$outdir/initramfs.img"
echo "$kver" > "$outdir/kernel-version"
echo "wrote $outdir/vmlinuz ($kver) and $outdir/initramfs.img"
