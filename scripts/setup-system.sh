#!/usr/bin/env bash
# Installs, from Debian's packages, what transit-status needs and this machine lacks:
# a JDK (Kafka, Kafka Connect, OpenSearch), Maven (fetches their jars once), PostgreSQL's and
# MariaDB's servers and, with --with-browser, Chromium for the headless browser tests.
# Already-installed parts are left alone.
set -euo pipefail

packages=()
command -v java >/dev/null 2>&1 || packages+=(openjdk-17-jre-headless)
command -v javac >/dev/null 2>&1 || packages+=(openjdk-17-jdk-headless)  # compiles OpenSearch's launcher
command -v mvn >/dev/null 2>&1 || packages+=(maven)
compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null || packages+=(postgresql)
[[ -x /usr/sbin/mariadbd ]] || packages+=(mariadb-server)
if [[ "${1:-}" == "--with-browser" ]]; then
  [[ -x /usr/bin/chromium ]] || packages+=(chromium)
fi

if [[ ${#packages[@]} -eq 0 ]]; then
  exit 0
fi

echo "Installing Debian packages: ${packages[*]}"
if [[ $(id -u) -eq 0 ]]; then
  apt_get=(apt-get)
elif command -v sudo >/dev/null 2>&1; then
  apt_get=(sudo apt-get)
else
  echo "error: need root to install ${packages[*]}; run: apt-get update && apt-get install -y ${packages[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${apt_get[@]}" update -qq
"${apt_get[@]}" install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
echo "Installed: ${packages[*]}"
