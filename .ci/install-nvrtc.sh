#!/usr/bin/env bash
# Installs NVRTC (Debian bookworm's libnvrtc11.2, NVRTC 11.8) so the kernel compile tests can run
# on machines without a CUDA toolkit. Idempotent: does nothing when a libnvrtc is already visible.
set -euo pipefail

have_nvrtc() {
    ldconfig -p 2>/dev/null | grep "libnvrtc\.so" >/dev/null && return 0
    local d
    for d in "${ROSE_CUDA_LIB_DIR:-}" "${CUDA_PATH:-}/lib64" "${CUDA_HOME:-}/lib64" /usr/local/cuda*/lib64; do
        [ -n "$d" ] && compgen -G "$d/libnvrtc.so*" >/dev/null && return 0
    done
    return 1
}

if have_nvrtc; then
    echo "install-nvrtc: libnvrtc already present"
    exit 0
fi

if [ "$(id -u)" != 0 ]; then
    echo "install-nvrtc: libnvrtc not found and not running as root; cannot install" >&2
    exit 1
fi

src=/etc/apt/sources.list.d/debian.sources
dst=/etc/apt/sources.list.d/rose-nonfree.sources
if [ ! -f "$dst" ]; then
    if [ ! -f "$src" ]; then
        echo "install-nvrtc: $src not found; add Debian's non-free component by hand" >&2
        exit 1
    fi
    # Copy each deb822 stanza's Types/URIs/Suites/Signed-By, swapping Components for non-free.
    # Security stanzas are skipped: libnvrtc is not published there.
    awk '
        function flush() {
            if (uris != "" && suites != "" && suites !~ /-security/) {
                if (n++) print ""
                print "Types: " (types != "" ? types : "deb")
                print "URIs: " uris
                print "Suites: " suites
                print "Components: non-free"
                if (signed != "") print "Signed-By: " signed
            }
            types = uris = suites = signed = ""
        }
        /^[[:space:]]*$/ { flush(); next }
        /^#/ { next }
        /^Types:/     { sub(/^Types:[[:space:]]*/, "");     types = $0; next }
        /^URIs:/      { sub(/^URIs:[[:space:]]*/, "");      uris = $0; next }
        /^Suites:/    { sub(/^Suites:[[:space:]]*/, "");    suites = $0; next }
        /^Signed-By:/ { sub(/^Signed-By:[[:space:]]*/, ""); signed = $0; next }
        END { flush() }
    ' "$src" > "$dst.tmp"
    if [ ! -s "$dst.tmp" ]; then
        rm -f "$dst.tmp"
        echo "install-nvrtc: could not derive a non-free source from $src" >&2
        exit 1
    fi
    mv "$dst.tmp" "$dst"
    echo "install-nvrtc: wrote $dst"
fi

export DEBIAN_FRONTEND=noninteractive
# Refresh only the new source; fall back to a full update if this apt cannot do that.
apt-get update -o Dir::Etc::sourcelist="$dst" -o Dir::Etc::sourceparts=- -o APT::Get::List-Cleanup=0 \
    || apt-get update
apt-get install -y --no-install-recommends libnvrtc11.2

if ! have_nvrtc; then
    echo "install-nvrtc: libnvrtc11.2 installed but libnvrtc.so is still not visible to ldconfig" >&2
    exit 1
fi
ldconfig -p | grep nvrtc
