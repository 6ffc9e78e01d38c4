#!/bin/sh
# Creates the mfabridge system user and group before the files that belong
# to them are unpacked.
set -e
if ! getent group mfabridge >/dev/null; then
    groupadd --system mfabridge
fi
if ! getent passwd mfabridge >/dev/null; then
    useradd --system --gid mfabridge --home-dir /nonexistent --no-create-home \
        --shell /usr/sbin/nologin --comment "mfabridge RADIUS server" mfabridge
fi
exit 0
