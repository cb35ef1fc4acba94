# Beam's Flink job server for docker-compose.yml, where the official image
# (apache/beam_flink1.20_job_server) cannot be pulled: the same route as
# scripts/flink_jobserver.sh takes on a machine, in a Maven + JDK 17 image:
#   1. the official jar from Maven Central (org.apache.beam:beam-runners-flink-1.20-job-server);
#   2. where that is not served, a build from Beam's runner source with the pinned recipe in
#      scripts/flink/ (the source archive must then be in docker/beam-src/, see its README).
# The result answers the same flags as the official image (--flink-master, --job-host,
# --artifacts-dir ...).
FROM maven:3.9-eclipse-temurin-17 AS build
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends python3 && rm -rf /var/lib/apt/lists/*
WORKDIR /curate
COPY scripts/flink_jobserver.sh scripts/
COPY scripts/flink/ scripts/flink/
COPY docker/beam-src/ docker/beam-src/
ARG BEAM_VERSION=2.77.0
# Another JDK than the pin's (17.0.15) writes other jar bytes; the sources stay pinned.
RUN archive=$(ls docker/beam-src/*.tar.gz 2>/dev/null | head -n 1); \
    BEAM_VERSION=$BEAM_VERSION CURATE_JARS=/jars CURATE_FLINK_ALLOW_UNPINNED_JAR=1 \
    CURATE_BEAM_SOURCE_ARCHIVE=${archive:-/none} bash scripts/flink_jobserver.sh > /jar-path \
    && cp "$(cat /jar-path)" /jobserver.jar

FROM eclipse-temurin:17-jre
COPY --from=build /jobserver.jar /opt/apache/beam/jars/beam-runners-flink-job-server.jar
EXPOSE 8099 8098 8097
ENTRYPOINT ["java", "-jar", "/opt/apache/beam/jars/beam-runners-flink-job-server.jar"]
