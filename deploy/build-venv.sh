#!/bin/sh
# Build the example service's virtual environment from this workspace:
#   wheels of the workspace packages (uv build), third-party versions pinned by uv.lock.
#
#   deploy/build-venv.sh VENV_DIR [WHEEL_DIR]
#
# deploy/Dockerfile runs it in its build stage; tests/integration runs it outside Docker to
# check the same steps. Environment: UV (the uv binary, default "uv"), PYTHON (the
# interpreter of the new environment, default "python3"); UV_OFFLINE=1 works from uv's cache.
set -eu

target=${1:?usage: deploy/build-venv.sh VENV_DIR [WHEEL_DIR]}
wheels=${2:-}
uv=${UV:-uv}
python=${PYTHON:-python3}
root=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "$wheels" ]; then
    wheels=$(mktemp -d)
fi
mkdir -p "$wheels"
cd "$root"

# 1. Wheels of every workspace package (chassis-core, the plugins, the example service).
"$uv" build --all-packages --wheel --out-dir "$wheels" --quiet

# 2. The locked versions of every third-party distribution, as constraints: what the tests
#    ran with is what the image runs.
"$uv" export --frozen --all-packages --all-extras --no-emit-workspace --no-hashes \
    --no-header --quiet --output-file "$wheels/constraints.txt"

# 3. A virtual environment with the service, the plugins it uses and the server. Workspace
#    packages are named by file, so no index is ever asked for a distribution of that name.
wheel() {
    set -- "$wheels"/"$1"-*.whl
    [ -f "$1" ] || { echo "build-venv.sh: no wheel for $1" >&2; exit 1; }
    echo "$1"
}
"$uv" venv --quiet --python "$python" "$target"
"$uv" pip install --quiet --python "$target/bin/python" \
    --constraint "$wheels/constraints.txt" \
    "chassis-core @ file://$(wheel chassis_core)" \
    "chassis-tracing[sdk] @ file://$(wheel chassis_tracing)" \
    "chassis-metrics @ file://$(wheel chassis_metrics)" \
    "chassis-optimizer[redis] @ file://$(wheel chassis_optimizer)" \
    "chassis-pagination[sqlalchemy] @ file://$(wheel chassis_pagination)" \
    "chassis-auth @ file://$(wheel chassis_auth)" \
    "chassis-ratelimit[redis] @ file://$(wheel chassis_ratelimit)" \
    "chassis-client @ file://$(wheel chassis_client)" \
    "chassis-idempotency[redis] @ file://$(wheel chassis_idempotency)" \
    "chassis-sqlalchemy @ file://$(wheel chassis_sqlalchemy)" \
    "directmail @ file://$(wheel directmail)" \
    "gunicorn" \
    "uvicorn-worker" \
    "psycopg[binary]"
