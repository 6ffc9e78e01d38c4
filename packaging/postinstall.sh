#!/bin/sh
# Tells systemd about the units. The service is not started: edit
# /etc/mfabridge/radius.conf first, then `systemctl enable --now mfabridge`.
# On upgrade, a running service is restarted.
set -e
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    systemctl daemon-reload || true
    if systemctl is-active --quiet mfabridge.service; then
        systemctl restart mfabridge.service || true
    fi
fi
if [ "$1" = "configure" ] && [ -z "$2" ] || [ "$1" = "1" ]; then
    echo "mfabridge: edit /etc/mfabridge/radius.conf, check it with"
    echo "  mfabridge check-config --config /etc/mfabridge/radius.conf"
    echo "then start it with: systemctl enable --now mfabridge"
fi
exit 0
