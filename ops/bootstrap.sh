#!/usr/bin/env bash
# Prepares a fresh machine (Debian, Node 20.19+ with npm, local PostgreSQL and RabbitMQ packages) to run framelog:
# installs ffmpeg if missing, makes sure PostgreSQL and RabbitMQ are up, starts the local S3 server (Swift,
# ops/s3-up.sh) for STORAGE=s3 and its tests, and installs npm packages (which bring the Node 24 that every
# npm script runs on: the `node` devDependency).
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v ffmpeg >/dev/null 2>&1 || ! command -v ffprobe >/dev/null 2>&1; then
  echo "bootstrap: installing ffmpeg"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq ffmpeg >/dev/null
fi

# The player tests (hls.js, dash.js) need a Chromium that plays H.264/AAC: Debian's headless shell does,
# the browser Playwright would download does not (and nothing is downloaded at test time).
if [ ! -x /usr/bin/chromium-headless-shell ]; then
  echo "bootstrap: installing chromium-headless-shell"
  as_root apt-get update -qq
  # Other installers may hold the dpkg lock for a while on a shared machine: wait instead of failing.
  DEBIAN_FRONTEND=noninteractive as_root apt-get -o DPkg::Lock::Timeout=600 install -y -qq chromium-headless-shell >/dev/null
fi

bash ops/services-up.sh
bash ops/s3-up.sh

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "bootstrap: npm ci"
  npm ci --no-audit --no-fund
fi
