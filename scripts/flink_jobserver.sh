#!/usr/bin/env bash
# Beam's Flink job server jar, cached and checksum-verified; prints its path.
#
#   scripts/flink_jobserver.sh            # -> data/jars/<jar>
#
# Two routes, in this order (a rerun with a verified jar in the cache takes a second):
#   1. Maven Central: org.apache.beam:beam-runners-flink-1.20-job-server:<beam version>,
#      what a user with a normal network gets; verified against Maven Central's .sha1.
#   2. Where the Maven repository does not serve that artifact (as on this project's build
#      machines): built from Beam's own runner source with the Maven recipe in scripts/flink/
#      (pom.xml: compiles the Flink runner and job service against served Beam 2.73 jars). The
#      source archive's and the built jar's sha256 are pinned below; the build is
#      byte-reproducible on the same JDK.
#
# Exit status: 0 and the jar's path on stdout; 3 when neither route is available (no Java or
# Maven, or no source archive where Maven Central does not serve the jar: setup goes on, the
# Flink tests then fail in CI and skip elsewhere); 1 on any other failure (a checksum mismatch
# among them).
#
# Environment:
#   CURATE_FLINK_JOB_SERVER_JAR   a jar obtained elsewhere: used as it is
#   CURATE_JARS                   cache folder (default $CURATE_DATA/jars, else data/jars)
#   CURATE_BEAM_SOURCE_ARCHIVE    the Beam source subset (default: ../shared/flink/beam-src-subset-<commit>.tar.gz)
#   CURATE_FLINK_ALLOW_UNPINNED_JAR=1   accept a built jar whose sha256 differs from the pin
#                                 (another JDK gives other bytes; the sources are still pinned)
#   CURATE_FLINK_SKIP_MAVEN_CENTRAL=1   go straight to the source build
# Only Maven talks to the network, and only to the repositories it is configured with.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

PY="${PYTHON:-.venv/bin/python}"
BEAM_VERSION="${BEAM_VERSION:-$("$PY" -c 'import apache_beam; print(apache_beam.__version__)' 2>/dev/null || echo 2.77.0)}"
FLINK_MAJOR=1.20
FLINK_VERSION=1.20.3
JARS="${CURATE_JARS:-${CURATE_DATA:-$ROOT/data}/jars}"
log() { printf 'flink_jobserver.sh: %s\n' "$*" >&2; }

if [[ -n "${CURATE_FLINK_JOB_SERVER_JAR:-}" ]]; then
  [[ -s "$CURATE_FLINK_JOB_SERVER_JAR" ]] || { log "CURATE_FLINK_JOB_SERVER_JAR=$CURATE_FLINK_JOB_SERVER_JAR is not a file"; exit 1; }
  echo "$CURATE_FLINK_JOB_SERVER_JAR"
  exit 0
fi
command -v mvn >/dev/null || { log "mvn (Apache Maven) is required"; exit 3; }
command -v java >/dev/null || { log "java (a JDK 11 or 17) is required"; exit 3; }
mkdir -p "$JARS"

# Route 1: the official artifact -------------------------------------------------------------
ARTIFACT="beam-runners-flink-${FLINK_MAJOR}-job-server"
OFFICIAL="${JARS}/${ARTIFACT}-${BEAM_VERSION}.jar"
COORD="org.apache.beam:${ARTIFACT}:${BEAM_VERSION}"
verify_sha1() {  # jar matches the .sha1 Maven Central published for it
  [[ -s "$OFFICIAL" && -s "$OFFICIAL.sha1" ]] || return 1
  [[ "$(tr -d ' \r\n' < "$OFFICIAL.sha1" | cut -c1-40)" == "$(sha1sum "$OFFICIAL" | cut -c1-40)" ]]
}

# Route 2: built from source -----------------------------------------------------------------
# Beam master at 55febcbf6fc1 (2025-08-08, 2.67.0-SNAPSHOT): runners/flink, runners/flink/1.17
# overrides, runners/java-job-service, sdks/java/build-tools (152 .java files, Apache-2.0).
SRC_COMMIT=55febcbf6fc142d373ff97a29466856ca4f7e26a
SRC_SHA256=a53d206b58061f050882d36ef8c2e13875e1998a9019eb33859703f95c624715
# The jar scripts/flink/pom.xml builds for Flink 1.20.3 with JDK 17.0.15 and Maven 3.8.7
# (166,666,857 bytes; three clean builds gave these bytes).
BUILT_SHA256=74b8c48280509b5acae0e17737e62c17dbb46d023b3fe48f72694db2d99cb076
BUILT="${JARS}/beam-runners-flink-${FLINK_MAJOR}-job-server-2.73.0-src${SRC_COMMIT:0:12}.jar"
ARCHIVE="${CURATE_BEAM_SOURCE_ARCHIVE:-$ROOT/../shared/flink/beam-src-subset-${SRC_COMMIT}.tar.gz}"

verify_built() {
  [[ -s "$BUILT" ]] || return 1
  [[ "$(sha256sum "$BUILT" | cut -c1-64)" == "$BUILT_SHA256" ]] && return 0
  [[ "${CURATE_FLINK_ALLOW_UNPINNED_JAR:-0}" == 1 && -e "$BUILT.unpinned" ]]
}

if verify_sha1; then echo "$OFFICIAL"; exit 0; fi
if verify_built; then echo "$BUILT"; exit 0; fi

LOG="$(mktemp)"
trap 'rm -f "$LOG"' EXIT
if [[ "${CURATE_FLINK_SKIP_MAVEN_CENTRAL:-0}" != 1 ]]; then
  rm -f "$OFFICIAL" "$OFFICIAL.sha1"
  # --strict-checksums: Maven refuses a download whose checksum does not match; the published
  # .sha1 is then fetched as an artifact of its own so the check does not trust the jar's download.
  if mvn -B --strict-checksums dependency:copy -Dartifact="${COORD}:jar" \
       -DoutputDirectory="$JARS" -Dmdep.overWriteReleases=true >"$LOG" 2>&1; then
    mvn -q -B --strict-checksums dependency:copy -Dartifact="${COORD}:jar.sha1" \
      -DoutputDirectory="$JARS" -Dmdep.overWriteReleases=true >&2
    if verify_sha1; then echo "$OFFICIAL"; exit 0; fi
    log "checksum mismatch for $OFFICIAL (expected $(cat "$OFFICIAL.sha1" 2>/dev/null))"
    rm -f "$OFFICIAL"
    exit 1
  fi
  if ! grep -q "Could not find artifact\|Unable to find artifact\|could not be resolved" "$LOG"; then
    cat "$LOG" >&2
    exit 1
  fi
  log "the Maven repository does not serve ${COORD}; building it from Beam's source"
fi

if [[ ! -s "$ARCHIVE" ]]; then
  log "no Beam source archive at $ARCHIVE (set CURATE_BEAM_SOURCE_ARCHIVE, or put a jar at $OFFICIAL)"
  exit 3
fi
have=$(sha256sum "$ARCHIVE" | cut -c1-64)
if [[ "$have" != "$SRC_SHA256" ]]; then
  log "$ARCHIVE has sha256 $have, expected $SRC_SHA256"
  exit 1
fi

WORK="$JARS/build-flink-${FLINK_MAJOR}"
rm -rf "$WORK"
mkdir -p "$WORK/src-archive"
tar -xzf "$ARCHIVE" -C "$WORK/src-archive"
SRC="$WORK/src-archive/beam-${SRC_COMMIT}"
cp scripts/flink/pom.xml "$WORK/pom.xml"
bash scripts/flink/prepare_sources.sh "$SRC" "$WORK" "$FLINK_MAJOR" >"$LOG" 2>&1 || { cat "$LOG" >&2; exit 1; }
python3 scripts/flink/patch_2.67_to_2.73.py "$WORK" >>"$LOG" 2>&1 || { cat "$LOG" >&2; exit 1; }
log "mvn package (about 1 min with a warm ~/.m2, 4 min from an empty one)"
if ! (cd "$WORK" && mvn -T1 -B -Dflink.version="$FLINK_VERSION" -Dflink.major="$FLINK_MAJOR" clean package) >"$LOG" 2>&1; then
  tail -50 "$LOG" >&2
  exit 1
fi
jar="$WORK/target/beam-runners-flink-job-server-local-2.73.0-flink${FLINK_MAJOR}.jar"
have=$(sha256sum "$jar" | cut -c1-64)
rm -f "$BUILT.unpinned"
if [[ "$have" != "$BUILT_SHA256" ]]; then
  if [[ "${CURATE_FLINK_ALLOW_UNPINNED_JAR:-0}" != 1 ]]; then
    log "built jar has sha256 $have, pinned $BUILT_SHA256 (JDK 17.0.15, Maven 3.8.7);"
    log "  another JDK writes other bytes: set CURATE_FLINK_ALLOW_UNPINNED_JAR=1 to accept it"
    exit 1
  fi
  log "accepting an unpinned build (sha256 $have)"
  touch "$BUILT.unpinned"
fi
mv "$jar" "$BUILT"
rm -rf "$WORK"
echo "$BUILT"
