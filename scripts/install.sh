#!/bin/sh
# Install a lumen-argus sidecar binary for this machine: download it and the release's
# checksums.txt, verify the SHA-256, and install it atomically with mode 0755.
#
#   install.sh [--version vX.Y.Z] [--binary lumen-argus|lumen-argus-agent] [--to DIR] [--base-url URL]
#
# Without --version the latest release is used. --base-url replaces the GitHub Release download
# address (mirrors, tests). Nothing is installed unless the hash matches.
set -eu

REPOSITORY="lumen-argus/lumen-argus"
version=""
binary="lumen-argus"
destination="${HOME:-.}/.local/bin"
base_url=""

# die MESSAGE [HINT [CODE]]: print the error and its fix, exit CODE (1 unless given).
die() {
    printf 'error: %s\n' "$1" >&2
    if [ -n "${2:-}" ]; then
        printf 'hint: %s\n' "$2" >&2
    fi
    exit "${3:-1}"
}

# A command line the script cannot take exits 2, like the xtask's usage errors.
usage_error() {
    die "$1" "$2" 2
}

usage() {
    sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
}

needs_value() {
    [ $# -ge 2 ] && [ -n "$2" ] || usage_error "$1 needs a value" "see install.sh --help"
}

while [ $# -gt 0 ]; do
    case "$1" in
        --version) needs_value "$@"; version=$2; shift 2 ;;
        --binary) needs_value "$@"; binary=$2; shift 2 ;;
        --to) needs_value "$@"; destination=$2; shift 2 ;;
        --base-url) needs_value "$@"; base_url=$2; shift 2 ;;
        -h | --help) usage; exit 0 ;;
        *) usage_error "unknown option: $1" "see install.sh --help" ;;
    esac
done

case "$binary" in
    lumen-argus | lumen-argus-agent) ;;
    *) usage_error "unknown binary: $binary" "use --binary lumen-argus or --binary lumen-argus-agent" ;;
esac

# A release tag is v + a version: a digit first, then only the characters a PEP 440 version is
# written with (no space, no slash: it becomes part of the download address).
if [ -n "$version" ]; then
    case "$version" in
        v[0-9]*) ;;
        *) usage_error "--version $version is not a release tag" "use v + the version, e.g. --version v1.2.3 or --version v1.2.3rc1" ;;
    esac
    case "$version" in
        *[!0-9A-Za-z.+!_-]*) usage_error "--version $version is not a release tag" "use v + the version, e.g. --version v1.2.3 or --version v1.2.3rc1" ;;
    esac
fi

case "$base_url" in
    "" | https://?* | http://?* | file://?*) ;;
    *) usage_error "--base-url $base_url is not an https://, http:// or file:// address" "e.g. --base-url https://mirror.example.com/lumen-argus/v1.2.3" ;;
esac

suffix=""
os=$(uname -s)
arch=$(uname -m)
case "$os/$arch" in
    Linux/x86_64 | Linux/amd64) triple="x86_64-unknown-linux-gnu" ;;
    Linux/aarch64 | Linux/arm64) triple="aarch64-unknown-linux-gnu" ;;
    Darwin/x86_64) triple="x86_64-apple-darwin" ;;
    Darwin/arm64 | Darwin/aarch64) triple="aarch64-apple-darwin" ;;
    MINGW*/x86_64 | MSYS*/x86_64 | CYGWIN*/x86_64) triple="x86_64-pc-windows-msvc"; suffix=".exe" ;;
    *) die "no lumen-argus binary is published for $os $arch" "use the Docker image or install from PyPI (pip install lumen-argus-proxy)" ;;
esac

if [ -z "$base_url" ]; then
    if [ -n "$version" ]; then
        base_url="https://github.com/$REPOSITORY/releases/download/$version"
    else
        base_url="https://github.com/$REPOSITORY/releases/latest/download"
    fi
fi
base_url=${base_url%/}

if command -v curl >/dev/null 2>&1; then
    fetch() { curl --fail --silent --show-error --location --output "$2" "$1"; }
elif command -v wget >/dev/null 2>&1; then
    fetch() { wget --quiet --output-document="$2" "$1"; }
else
    die "neither curl nor wget is installed" "install one of them and run again"
fi

if command -v sha256sum >/dev/null 2>&1; then
    sha256_of() { sha256sum "$1" | cut -d' ' -f1; }
elif command -v shasum >/dev/null 2>&1; then
    sha256_of() { shasum -a 256 "$1" | cut -d' ' -f1; }
elif command -v openssl >/dev/null 2>&1; then
    sha256_of() { openssl dgst -sha256 -r "$1" | cut -d' ' -f1; }
else
    die "no SHA-256 tool found (sha256sum, shasum or openssl)" "install coreutils or openssl"
fi

file="$binary-$triple$suffix"
target="$destination/$binary$suffix"

# The installed file replaces only a regular file (or nothing). A folder, a symlink (mv would move
# the binary into the folder it points to, or replace the link), a fifo or a device is refused.
refuse_unless_replaceable() {
    if [ -L "$target" ]; then
        die "$target is a symlink" "remove it or choose another folder with --to; nothing was installed"
    fi
    if [ -e "$target" ] && [ ! -f "$target" ]; then
        die "$target exists and is not a regular file" "remove it or choose another folder with --to; nothing was installed"
    fi
}
refuse_unless_replaceable

workdir=$(mktemp -d)
trap 'rm -rf "$workdir"' EXIT
trap 'exit 130' INT TERM

fetch "$base_url/$file" "$workdir/$file" ||
    die "could not download $base_url/$file" "check --version and --base-url; is $triple in that release?"
fetch "$base_url/checksums.txt" "$workdir/checksums.txt" ||
    die "could not download $base_url/checksums.txt" "check --version and --base-url"

expected=$(awk -v name="$file" '$2 == name || $2 == "*" name { print $1; exit }' "$workdir/checksums.txt")
[ -n "$expected" ] || die "checksums.txt lists no $file" "the release is incomplete: report it, and do not install this file"
actual=$(sha256_of "$workdir/$file")
if [ "$actual" != "$expected" ]; then
    die "checksum mismatch for $file: expected $expected, got $actual" "nothing was installed; download again or report the release"
fi

mkdir -p "$destination" || die "cannot create $destination" "choose another folder with --to"
staged="$destination/.$binary$suffix.installing.$$"
cp "$workdir/$file" "$staged" || die "cannot write into $destination" "choose another folder with --to"
chmod 0755 "$staged"
# Checked again right before the rename: the folder may have changed during the download.
if [ -L "$target" ] || { [ -e "$target" ] && [ ! -f "$target" ]; }; then
    rm -f "$staged"
    refuse_unless_replaceable
fi
mv -f "$staged" "$target" || { rm -f "$staged"; die "cannot install into $destination" "choose another folder with --to"; }
printf 'installed %s (sha256:%s) to %s\n' "$file" "$actual" "$target"
