#!/usr/bin/env bash
# Installs the Debian packages mfabridge's tests drive when they are missing:
# FreeRADIUS (as a proxy in front of mfabridge) and its radclient,
# pam_radius_auth and pamtester, ocserv and the
# openconnect client, ip (iproute2) for the VPN test's namespace, and
# redis-server for the shared session store, debootstrap (the package is
# installed into a clean Debian root), systemd-analyze (the units are
# verified), systemd-nspawn (that root is booted to test the unit) and promtool (the alert rules are checked).
set -euo pipefail

missing=()
# FreeRADIUS runs as a proxy in front of mfabridge (e2e), and make bench
# compares with it.
command -v freeradius >/dev/null 2>&1 || missing+=(freeradius)
command -v radclient >/dev/null 2>&1 || missing+=(freeradius-utils)
# make bench compares mfabridge's HTTP path with FreeRADIUS + rlm_rest.
[ -e /usr/lib/freeradius/rlm_rest.so ] || missing+=(freeradius-rest)
command -v pamtester >/dev/null 2>&1 || missing+=(pamtester)
command -v ocserv >/dev/null 2>&1 || missing+=(ocserv)
command -v openconnect >/dev/null 2>&1 || missing+=(openconnect)
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
# The package test boots a Debian root with systemd-nspawn.
command -v systemd-nspawn >/dev/null 2>&1 || missing+=(systemd-container)
# promtool checks the shipped Prometheus alert rules.
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
# OpenVPN with radiusplugin in front of mfabridge (docs/nas.md's recipe).
command -v openvpn >/dev/null 2>&1 || missing+=(openvpn)
[ -e /usr/lib/openvpn/radiusplugin.so ] || missing+=(openvpn-auth-radius)
# radsecproxy is a RadSec (TLS) client in front of mfabridge.
command -v radsecproxy >/dev/null 2>&1 || missing+=(radsecproxy)
if ! compgen -G '/lib/*/security/pam_radius_auth.so' >/dev/null && ! compgen -G '/usr/lib/*/security/pam_radius_auth.so' >/dev/null; then
  missing+=(libpam-radius-auth)
fi
[ ${#missing[@]} -eq 0 ] && exit 0

echo "test-deps: installing ${missing[*]}"
if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  sudo=(sudo -n)
else
  echo "test-deps: not root and no sudo: install them yourself with" >&2
  echo "  apt-get install ${missing[*]}" >&2
  echo "test-deps: the tests that need them will be skipped (outside CI)" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
# The tests start the servers they need themselves, on free ports. Debian
# starts a package's service when it is installed (FreeRADIUS on 1812,
# redis-server on 6379, ocserv on 443, Prometheus on 9090), which would then stand in the way
# of `make run`: a policy-rc.d that says no keeps them from starting, and
# they are disabled so that a reboot does not start them either.
policy=/usr/sbin/policy-rc.d
placed=no
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\n# test-deps: services stay stopped while the test packages install\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
  "${sudo[@]}" chmod 755 "$policy"
  placed=yes
fi
cleanup() { [ "$placed" = yes ] && "${sudo[@]}" rm -f "$policy"; }
trap cleanup EXIT
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
if [ -d /run/systemd/system ]; then
  for unit in freeradius.service redis-server.service ocserv.service ocserv.socket prometheus.service radsecproxy.service openvpn.service; do
    if systemctl list-unit-files "$unit" >/dev/null 2>&1; then
      "${sudo[@]}" systemctl disable --now "$unit" >/dev/null 2>&1 || true
    fi
  done
fi
