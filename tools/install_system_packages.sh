#!/bin/sh
# The system packages TensorBlocks needs on Debian/Ubuntu: Python's venv module, GNU
# OpenMP (numba's threads share mid-size kernels with it; without it they use a slower
# Python pool), and the libraries Qt's xcb platform plugin loads (without them
# `tensorblocks edit` cannot open a window). Installs only what is missing (asks for sudo
# then); elsewhere it does nothing. Used by the README's first set-up command;
# app/qt_check.py names the same Qt packages.
set -e
PACKAGES="python3-venv libgomp1 libegl1 libgl1 libfontconfig1 libdbus-1-3 libglib2.0-0
libxkbcommon0 libxkbcommon-x11-0 libx11-xcb1 libxcb-cursor0 libxcb-icccm4 libxcb-image0
libxcb-keysyms1 libxcb-randr0 libxcb-render-util0 libxcb-shape0 libxcb-xfixes0 libxcb-xkb1
libxcb-sync1 libxcb-shm0"

if ! command -v dpkg >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
    echo "install_system_packages: not a Debian/Ubuntu system; install Qt 6's xcb libraries with your package manager" >&2
    exit 0
fi
missing=""
for package in $PACKAGES; do
    # "ii" = installed; libglib2.0-0 is libglib2.0-0t64 on newer releases (apt picks it).
    if ! dpkg-query -W -f='${db:Status-Abbrev}' "$package" 2>/dev/null | grep -q '^ii'; then
        missing="$missing $package"
    fi
done
if [ -z "$missing" ]; then
    exit 0
fi
echo "install_system_packages: installing$missing"
if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
else
    SUDO="sudo"
fi
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $missing
