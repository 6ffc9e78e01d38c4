#!/bin/sh
# After removal: systemd forgets the units. On purge (Debian), the
# configuration directory goes too; the system user stays (files it owned
# may remain elsewhere).
set -e
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    systemctl daemon-reload || true
fi
if [ "$1" = "purge" ]; then
    rm -rf /etc/mfabridge
fi
exit 0
