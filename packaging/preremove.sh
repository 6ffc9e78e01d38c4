#!/bin/sh
# Stops the service when the package is removed (not on upgrade).
set -e
case "$1" in
    remove|0)
        if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
            systemctl disable --now mfabridge.service mfabridge.socket >/dev/null 2>&1 || true
        fi
        ;;
esac
exit 0
