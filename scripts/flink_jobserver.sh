#!/usr/bin/env bash
# Fetch Beam's Flink job server jar from Maven Central into a cache folder, verify its
# checksum, print its path. Idempotent: a cached jar whose checksum matches is reused.
#
#   scripts/flink_jobserver.sh            # -> data/jars/beam-runners-flink-1.20-job-server-2.77.0.jar
#   FLINK_VERSION=1.19 scripts/flink_jobserver.sh
#
# Exit status: 0 and the jar's path on stdout; 3 when the Maven repository does not serve the
# artifact (setup may go on: the Flink tests then skip and say why); 1 on any other failure.
#
# Environment: BEAM_VERSION (default: the installed apache-beam's, else 2.77.0),
# FLINK_VERSION (one of Beam's PUBLISHED_FLINK_VERSIONS; default 1.20),
# CURATE_JARS (cache folder; default $CURATE_DATA/jars or data/jars).
# Only Maven (mvn) talks to the network, and only to the repositories it is configured with
# (Maven Central by default); the checksum is Maven Central's .sha1 file, fetched by mvn too.
set -euo pipefail

PY="${PYTHON:-.venv/bin/python}"
BEAM_VERSION="${BEAM_VERSION:-$("$PY" -c 'import apache_beam; print(apache_beam.__version__)' 2>/dev/null || echo 2.77.0)}"
FLINK_VERSION="${FLINK_VERSION:-1.20}"
JARS="${CURATE_JARS:-${CURATE_DATA:-data}/jars}"
ARTIFACT="beam-runners-flink-${FLINK_VERSION}-job-server"
JAR="${JARS}/${ARTIFACT}-${BEAM_VERSION}.jar"
SUM="${JAR}.sha1"
COORD="org.apache.beam:${ARTIFACT}:${BEAM_VERSION}"

command -v mvn >/dev/null || { echo "flink_jobserver.sh: mvn (Apache Maven) is required" >&2; exit 1; }
mkdir -p "$JARS"

verify() {  # jar matches the .sha1 Maven Central published for it
  [[ -s "$JAR" && -s "$SUM" ]] || return 1
  local want have
  want="$(tr -d ' \r\n' < "$SUM" | cut -c1-40)"
  have="$(sha1sum "$JAR" | cut -c1-40)"
  [[ "$want" == "$have" ]]
}

if verify; then
  echo "$JAR"
  exit 0
fi

if [[ -s "$JAR" && ! -e "$SUM" ]]; then
  # Placed by hand (a mirror, another machine): use it, but say it was not verified here.
  echo "flink_jobserver.sh: using $JAR without a published checksum to verify it" >&2
  echo "$JAR"
  exit 0
fi
rm -f "$JAR" "$SUM"
# --strict-checksums: Maven itself refuses a download whose checksum does not match.
# The published .sha1 is fetched as its own artifact (type jar.sha1) so the check below does
# not trust the jar's own download.
LOG="$(mktemp)"
trap 'rm -f "$LOG"' EXIT
if ! mvn -B --strict-checksums dependency:copy \
  -Dartifact="${COORD}:jar" -DoutputDirectory="$JARS" -Dmdep.overWriteReleases=true >"$LOG" 2>&1; then
  if grep -q "Could not find artifact\|Unable to find artifact" "$LOG"; then
    echo "flink_jobserver.sh: the Maven repository does not serve ${COORD}" >&2
    echo "  (put a jar obtained elsewhere at $JAR, or set CURATE_FLINK_JOB_SERVER_JAR)" >&2
    exit 3
  fi
  cat "$LOG" >&2
  exit 1
fi
mvn -q -B --strict-checksums dependency:copy \
  -Dartifact="${COORD}:jar.sha1" -DoutputDirectory="$JARS" -Dmdep.overWriteReleases=true >&2

if ! verify; then
  echo "flink_jobserver.sh: checksum mismatch for $JAR (expected $(cat "$SUM" 2>/dev/null))" >&2
  rm -f "$JAR"
  exit 1
fi
echo "$JAR"
