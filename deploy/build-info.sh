#!/bin/sh
# Writes the build-info file that GET /info and `chassis info` read (CHASSIS_INFO__BUILD_FILE):
# the commit the service was built from and when, as JSON.
#
#   sh deploy/build-info.sh FILE            # commit from GIT_COMMIT, else `git rev-parse HEAD`
#
# `make dist` writes dist/build-info.json; the Dockerfile writes /opt/venv/build-info.json
# (docker build --build-arg GIT_COMMIT=$(git rev-parse HEAD): the build context has no .git).
set -eu
out=$1
commit=${GIT_COMMIT:-$(git rev-parse HEAD 2>/dev/null || true)}
built=${BUILD_TIME:-$(date -u +%Y-%m-%dT%H:%M:%SZ)}
case $commit in
    *[!0-9A-Za-z._/-]*) echo "build-info.sh: GIT_COMMIT=$commit is not a commit" >&2; exit 2 ;;
esac
case $built in
    *[!0-9A-Za-z:.+-]*) echo "build-info.sh: BUILD_TIME=$built is not a time" >&2; exit 2 ;;
esac
if [ -n "$commit" ]; then commit="\"$commit\""; else commit=null; fi
printf '{"commit": %s, "time": "%s"}\n' "$commit" "$built" > "$out"
