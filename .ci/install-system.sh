#!/usr/bin/env bash
# Installs what a fresh Debian 12 machine lacks to run Baton's full test suite:
# Chromium for the browser tests, and pgvector built for the local PostgreSQL.
# Idempotent: every step is skipped when its result is already there.
set -euo pipefail

need_apt=()
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
command -v pg_ctlcluster >/dev/null || need_apt+=(postgresql postgresql-contrib)
command -v redis-server >/dev/null || need_apt+=(redis-server)
PG_VER=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n1 || true)
PG_VER=${PG_VER:-15}
PG_CONFIG=/usr/lib/postgresql/$PG_VER/bin/pg_config
ext_dir=/usr/share/postgresql/$PG_VER/extension
if [ ! -f "$ext_dir/vector.control" ]; then
  need_apt+=("postgresql-server-dev-$PG_VER" dpkg-dev)
fi

if [ ${#need_apt[@]} -gt 0 ]; then
  echo "ci: apt-get install ${need_apt[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

if [ ! -f "$ext_dir/vector.control" ]; then
  # Debian 12 ships no pgvector for PostgreSQL 15: build Debian's own source package from trixie.
  echo "ci: building pgvector 0.8.0 for PostgreSQL $PG_VER"
  work=$(mktemp -d)
  chmod 755 "$work"  # apt drops to _apt for downloads
  mirror=$(grep -hoP '^URIs:\s*\K\S+' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n1 || true)
  [ -n "$mirror" ] || mirror=$(grep -hoP '^deb\s+\K\S+' /etc/apt/sources.list 2>/dev/null | head -n1 || true)
  mirror=${mirror:-http://deb.debian.org/debian}
  mkdir -p "$work/lists/partial"
  echo "deb-src [trusted=yes] $mirror trixie main" > "$work/sources.list"
  apt_opts=(-o "Dir::Etc::sourcelist=$work/sources.list" -o Dir::Etc::sourceparts=/nonexistent -o "Dir::State::Lists=$work/lists")
  apt-get "${apt_opts[@]}" update -qq
  (cd "$work" && apt-get "${apt_opts[@]}" source -qq pgvector=0.8.0-1 >/dev/null)
  src=$(find "$work" -maxdepth 1 -type d -name 'pgvector-*' | head -n1)
  make -s -C "$src" PG_CONFIG="$PG_CONFIG" >/dev/null
  make -s -C "$src" PG_CONFIG="$PG_CONFIG" install >/dev/null
  rm -rf "$work"
fi
