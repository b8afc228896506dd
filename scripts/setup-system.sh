#!/usr/bin/env bash
# Installs, from the distribution's packages (Debian 12 and 13, Ubuntu 24.04), what transit-status
# needs and this machine lacks: the venv module of the Python in use, a JDK 17+ with javac (Kafka,
# Kafka Connect, OpenSearch, Flink; javac compiles OpenSearch's launcher), Maven (fetches their jars
# once), PostgreSQL's and MariaDB's servers and, with --with-browser, Chromium for the browser tests.
# Already-installed parts are left alone. Runs as root, or installs through sudo.
#
# PostgreSQL and MariaDB run as the platform's own servers on their own ports: the system servers
# their packages start (on 5432 and 3306) are stopped and disabled, when this script installed them.
#
# Sourcing the script (the tests do) only defines its functions.
set -euo pipefail

MIN_JAVA=17
JVM_ROOT=${JVM_ROOT:-/usr/lib/jvm}
PYTHON=${PYTHON:-python3}

# java_major BINARY: the major version `BINARY -version` reports (java or javac; 8 for "1.8.0_392").
# Prints nothing when BINARY does not run or says no version.
java_major() {
  local output version
  output=$("$1" -version 2>&1) || true
  version=$(sed -nE 's/.*(version "|javac )([0-9]+)(\.([0-9]+))?.*/\2.\4/p' <<<"$output" | head -n 1)
  [[ -n $version ]] || return 0
  if [[ ${version%%.*} == 1 ]]; then
    echo "${version#1.}"
  else
    echo "${version%%.*}"
  fi
}

# jdk_home_ok HOME: HOME has a java and a javac, both 17+.
jdk_home_ok() {
  local tool major
  for tool in java javac; do
    [[ -x $1/bin/$tool ]] || return 1
    major=$(java_major "$1/bin/$tool")
    [[ -n $major && $major -ge $MIN_JAVA ]] || return 1
  done
}

# jdk_ok: a JDK 17+ the platform finds (platform/jvm.py): JAVA_HOME's, the PATH's java's, or one
# under /usr/lib/jvm. An older default java (e.g. 11) alone is not enough: Kafka 4 needs 17.
jdk_ok() {
  local home java
  java=$(command -v java 2>/dev/null || true)
  for home in "${JAVA_HOME:-}" "${java:+$(dirname "$(dirname "$(readlink -f "$java")")")}" "$JVM_ROOT"/*; do
    [[ -n $home ]] && jdk_home_ok "$home" && return 0
  done
  return 1
}

# apt_has PACKAGE: the distribution offers PACKAGE (after `apt-get update`).
apt_has() {
  [[ -n $(apt-cache policy "$1" 2>/dev/null | sed -n 's/^ *Candidate: //p' | grep -v '(none)') ]]
}

# jdk_package: 17 where the distribution has it (Debian 12, Ubuntu 24.04), else 21 (Debian 13).
jdk_package() {
  local version
  for version in 17 21 25; do
    if apt_has "openjdk-$version-jdk-headless"; then
      echo "openjdk-$version-jdk-headless"
      return 0
    fi
  done
  echo "error: no openjdk-17/21/25-jdk-headless package in this distribution's lists" >&2
  return 1
}

# venv_ok: $PYTHON can create a virtualenv with pip (Debian's python3 cannot without python3-venv).
venv_ok() {
  "$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1
}

# venv_package: the venv package of $PYTHON's own version (python3.12-venv on Ubuntu 24.04).
venv_package() {
  local version
  version=$("$PYTHON" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
  if apt_has "python$version-venv"; then
    echo "python$version-venv"
  else
    echo python3-venv
  fi
}

# chromium_path: the first Chromium the browser tests find (same order as tests/conftest.py).
chromium_path() {
  local candidate
  for candidate in "${TRANSIT_TEST_CHROMIUM:-}" "${CHROMIUM:-}" chromium chromium-browser /snap/bin/chromium \
    google-chrome google-chrome-stable; do
    [[ -n $candidate ]] && command -v "$candidate" 2>/dev/null && return 0
  done
  return 1
}

# as_root COMMAND...: COMMAND as root; through sudo, with DEBIAN_FRONTEND kept (sudo drops the environment).
as_root() {
  if [[ $(id -u) -eq 0 ]]; then
    env DEBIAN_FRONTEND=noninteractive "$@"
  else
    sudo env DEBIAN_FRONTEND=noninteractive "$@"
  fi
}

# stop_system_server SERVICE: stop and disable a server a package just started (systemd or init.d).
stop_system_server() {
  if [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null 2>&1; then
    as_root systemctl disable --now "$1" || true
  elif [[ -x /etc/init.d/$1 ]]; then
    as_root /etc/init.d/"$1" stop || true
    if command -v update-rc.d >/dev/null 2>&1; then
      as_root update-rc.d "$1" disable || true
    fi
  fi
}

main() {
  local with_browser=false
  [[ "${1:-}" == "--with-browser" ]] && with_browser=true

  # What is missing, by kind; package names that differ between distributions are chosen after the update.
  local needs=()
  venv_ok || needs+=(venv)
  jdk_ok || needs+=(jdk)
  command -v mvn >/dev/null 2>&1 || needs+=(maven)
  compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null || needs+=(postgresql)
  [[ -x /usr/sbin/mariadbd ]] || needs+=(mariadb-server)
  if $with_browser && ! chromium_path >/dev/null; then
    needs+=(chromium)
  fi
  if [[ ${#needs[@]} -eq 0 ]]; then
    return 0
  fi

  if [[ $(id -u) -ne 0 ]] && ! command -v sudo >/dev/null 2>&1; then
    echo "error: need root to install: ${needs[*]}; run this script as root" >&2
    return 1
  fi
  echo "Missing: ${needs[*]}; updating the package lists ..."
  as_root apt-get update -q

  local packages=() need snap_chromium=false
  for need in "${needs[@]}"; do
    case $need in
      venv)
        if [[ $(readlink -f "$(command -v "$PYTHON")") != /usr/bin/* ]]; then
          echo "error: $PYTHON ($(command -v "$PYTHON")) cannot create a virtualenv and is not the distribution's" \
            "Python; install its venv module, or use PYTHON=/usr/bin/python3" >&2
          return 1
        fi
        packages+=("$(venv_package)")
        ;;
      jdk) packages+=("$(jdk_package)") ;;
      chromium)
        # Debian packages Chromium; Ubuntu only ships it as a snap (its chromium-browser deb installs the snap).
        if apt_has chromium; then
          packages+=(chromium)
        else
          snap_chromium=true
        fi
        ;;
      *) packages+=("$need") ;;
    esac
  done

  if [[ ${#packages[@]} -gt 0 ]]; then
    echo "Installing: ${packages[*]}"
    as_root apt-get install -y -q --no-install-recommends \
      -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${packages[@]}"
  fi
  if $snap_chromium; then
    if ! command -v snap >/dev/null 2>&1; then
      echo "error: this distribution has no Chromium package and snap is not available; install Chromium" \
        "(or Chrome) and point TRANSIT_TEST_CHROMIUM at it" >&2
      return 1
    fi
    echo "Installing: chromium (snap)"
    as_root snap install chromium
  fi
  # The platform runs its own PostgreSQL and MariaDB; the system ones would hold 5432 and 3306.
  local installed
  for installed in "${packages[@]}"; do
    case $installed in
      postgresql) stop_system_server postgresql ;;
      mariadb-server) stop_system_server mariadb ;;
    esac
  done
  echo "Installed: ${packages[*]}"
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  main "$@"
fi
