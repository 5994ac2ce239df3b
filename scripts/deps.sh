#!/bin/sh
# Install the Debian packages wasp needs, only those missing.
#   scripts/deps.sh build   what `make` needs
#   scripts/deps.sh test    + what `make test` needs
#   scripts/deps.sh bench   + what `make bench` needs
set -e
want="meson ninja-build pkg-config gcc libxml2-dev libpcre2-dev libssl-dev libnghttp2-dev"
case "${1:-build}" in
  test)  want="$want openssl libcmocka-dev clang libclang-rt-14-dev python3 python3-pytest python3-requests curl php-cgi dokuwiki goaccess prometheus slowhttptest nghttp2-client python3-h2 iproute2" ;;
  bench) want="$want wrk nginx-light curl php-cgi php-fpm nghttp2-client openssl" ;;
esac
missing=""
for p in $want; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "wasp needs these Debian packages:$missing" >&2
  echo "install them as root: apt-get install$missing" >&2
  exit 1
fi
echo "installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq || true
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
