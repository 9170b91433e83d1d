#!/usr/bin/env bash
# A real S3-compatible server on this machine, for STORAGE=s3 and its tests: Debian's OpenStack Swift with
# the s3api and tempauth middlewares, single node on 127.0.0.1, plus memcached. Installs the packages if
# they are missing, writes the configuration and rings once, starts whatever is not running, creates the
# bucket `framelog` and waits until a signed S3 request succeeds. A second run when all is up changes nothing.
#
#   S3 endpoint http://127.0.0.1:8080, region us-east-1, access key test:tester, secret testing.
#
# Everything Swift stores or writes lives under FRAMELOG_SWIFT_DIR (default /var/lib/framelog-swift):
# configuration and rings in etc/, objects in devices/, logs in log/. Delete it to start from nothing.
set -euo pipefail

DIR="${FRAMELOG_SWIFT_DIR:-/var/lib/framelog-swift}"
PORT="${FRAMELOG_SWIFT_PORT:-8080}"
ACCESS_KEY='test:tester'
SECRET_KEY='testing'
BUCKET='framelog'
# Backend servers (ring device ports); Swift's own defaults.
declare -A SERVER_PORTS=([object]=6200 [container]=6201 [account]=6202)

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# Path-style S3 request signed with SigV4 by curl; prints the HTTP status. The access key holds a colon, so
# it goes URL-encoded in the URL's user part (curl's --user would split it there). s3api wants the payload
# hash header, which curl does not add: every request here has an empty body.
s3() {
  local method="$1" path="$2"
  local args=(-X "$method")
  [ "$method" = HEAD ] && args=(--head)
  curl -sS -o /dev/null -w '%{http_code}' --max-time 10 "${args[@]}" --aws-sigv4 'aws:amz:us-east-1:s3' \
    -H 'x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' \
    "http://${ACCESS_KEY/:/%3A}:${SECRET_KEY}@127.0.0.1:${PORT}${path}" 2>/dev/null || true
}
s3_ready() { [ "$(s3 HEAD "/$BUCKET")" = 200 ]; }

if listening "$PORT" && s3_ready; then
  echo "s3-up: Swift S3 is up on http://127.0.0.1:$PORT (bucket $BUCKET)"
  exit 0
fi

packages=(swift swift-proxy swift-account swift-container swift-object memcached)
# dpkg-query exits non-zero when a package is unknown to dpkg, so its output is captured before it is read
# (under pipefail, `dpkg-query | grep` took that exit status and skipped the install on a fresh machine).
installed() { [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" = 'install ok installed' ]; }
missing=()
for package in "${packages[@]}"; do installed "$package" || missing+=("$package"); done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "s3-up: installing ${packages[*]}"
  # Other processes may be running apt at the same time: wait for the lock instead of failing.
  as_root apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get -o DPkg::Lock::Timeout=600 install -y -qq "${packages[@]}" >/dev/null
fi

as_root mkdir -p "$DIR/etc" "$DIR/devices/d1" "$DIR/log" "$DIR/cache"

write_configs() {
  local etc="$DIR/etc"
  # The hash prefix/suffix decide where objects land on disk: written once, never changed afterwards.
  if [ ! -f "$etc/swift.conf" ]; then
    cat >"$etc/swift.conf" <<EOF
[swift-hash]
swift_hash_path_prefix = framelog-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
swift_hash_path_suffix = framelog-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')

[storage-policy:0]
name = Policy-0
default = yes
EOF
  fi
  local server
  for server in object container account; do
    cat >"$etc/$server-server.conf" <<EOF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = ${SERVER_PORTS[$server]}
swift_dir = $etc
devices = $DIR/devices
# The device is a plain directory, not a mount point.
mount_check = false
user = swift
workers = 1
log_name = $server-server
recon_cache_path = $DIR/cache

[pipeline:main]
pipeline = $server-server

[app:$server-server]
use = egg:swift#$server
EOF
  done
  cat >"$etc/proxy-server.conf" <<EOF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $PORT
swift_dir = $etc
user = swift
workers = 1
log_name = proxy-server

[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats bulk s3api tempauth copy slo dlo proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy
# The S3 user's account exists on first use.
account_autocreate = true

[filter:s3api]
use = egg:swift#s3api
location = us-east-1

[filter:tempauth]
use = egg:swift#tempauth
# S3 access key "test:tester", secret "testing".
user_test_tester = $SECRET_KEY .admin

[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:11211

[filter:catch_errors]
use = egg:swift#catch_errors
[filter:gatekeeper]
use = egg:swift#gatekeeper
[filter:healthcheck]
use = egg:swift#healthcheck
[filter:proxy-logging]
use = egg:swift#proxy_logging
[filter:listing_formats]
use = egg:swift#listing_formats
[filter:bulk]
use = egg:swift#bulk
[filter:copy]
use = egg:swift#copy
[filter:slo]
use = egg:swift#slo
[filter:dlo]
use = egg:swift#dlo
EOF
}

build_rings() {
  local ring
  for ring in object container account; do
    [ -f "$DIR/etc/$ring.ring.gz" ] && continue
    # 2^6 partitions, 1 replica, 1 hour between moves of a partition: one device holds everything.
    swift-ring-builder "$DIR/etc/$ring.builder" create 6 1 1 >/dev/null
    swift-ring-builder "$DIR/etc/$ring.builder" add "r1z1-127.0.0.1:${SERVER_PORTS[$ring]}/d1" 1 >/dev/null
    swift-ring-builder "$DIR/etc/$ring.builder" rebalance >/dev/null
  done
}

write_configs
build_rings
as_root chown -R swift:swift "$DIR"

if ! listening 11211; then
  echo "s3-up: starting memcached"
  as_root memcached -d -u memcache -l 127.0.0.1 -p 11211 -m 64
fi

start_server() {
  local name="$1" port="$2"
  listening "$port" && return 0
  echo "s3-up: starting swift-$name-server"
  # setsid: the server outlives this script and the shell that ran it.
  as_root setsid -f "swift-$name-server" "$DIR/etc/$name-server.conf" >>"$DIR/log/$name-server.log" 2>&1 </dev/null
}
for server in object container account; do start_server "$server" "${SERVER_PORTS[$server]}"; done
start_server proxy "$PORT"

for _ in $(seq 1 60); do
  if listening "$PORT"; then
    code="$(s3 HEAD "/$BUCKET")"
    [ "$code" = 200 ] && break
    [ "$code" = 404 ] && s3 PUT "/$BUCKET" >/dev/null
  fi
  sleep 1
done
if ! s3_ready; then
  echo "s3-up: Swift S3 did not answer on http://127.0.0.1:$PORT; see $DIR/log/" >&2
  tail -n 20 "$DIR"/log/*.log >&2 || true
  exit 1
fi
echo "s3-up: Swift S3 is up on http://127.0.0.1:$PORT (bucket $BUCKET)"
