#!/usr/bin/env bash
# Localnet: the whole system on one machine, from nothing.
#
#   scripts/localnet.sh           (make localnet)        run until Ctrl-C
#   scripts/localnet.sh --check   (make localnet-check)  unattended, exit 0/1
#
# It builds poktrolld, creates a one-validator chain under ./localnet (wiped
# on every run) with short sessions, funds an application and a supplier in
# genesis, registers the service "cometbft" and stakes both through real
# txs. The service's backend is the node's own CometBFT JSON-RPC (status,
# block, abci_info, ...), so nothing else needs installing. It then starts
# the RelayMiner and the AppGate, sends relays through the AppGate with curl
# and prints, as they happen, the relays served, the claim, the proof, the
# settlement and the balances before and after.
#
# Interactive mode then keeps sending a relay every few seconds and printing
# claims and settlements until Ctrl-C. --check stops after the first
# settlements and exits 0 only if the supplier was paid exactly
#   relays served × compute units per relay × compute_units_to_tokens_multiplier
# within 5 minutes of the build (both modes give up, with the tail of the
# logs, if no settlement comes by then). Either way every process it started is
# stopped on exit, and it tells where the data and the logs are.
#
# Needs: go, make, curl, python3 (JSON handling). Ports used, all on 127.0.0.1:
# 26656 (P2P), 26657 (CometBFT RPC), 9090 (gRPC), 8545 (RelayMiner),
# 9465 (RelayMiner health), 8080 (AppGate).

set -Eeuo pipefail

# ---------------------------------------------------------------- settings

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=$ROOT/bin/poktrolld
DIR=$ROOT/localnet           # everything the run writes
NODE_HOME=$DIR/node          # chain data, configs and the test keyring
LOGS=$DIR/logs

CHAIN_ID=poktroll-localnet
DENOM=upokt
SERVICE_ID=cometbft
SERVICE_NAME="CometBFT JSON-RPC"
COMPUTE_UNITS_PER_RELAY=10
RELAYS=20                    # relays sent in the first session
BUDGET=300                   # seconds from the build to the first settlement

P2P_PORT=26656
RPC_PORT=26657
GRPC_PORT=9090
RELAYMINER_PORT=8545
RELAYMINER_HEALTH_PORT=9465
APPGATE_PORT=8080

RPC_URL=http://127.0.0.1:$RPC_PORT
NODE=tcp://127.0.0.1:$RPC_PORT
APPGATE_URL=http://127.0.0.1:$APPGATE_PORT/$SERVICE_ID/

VAL_GENESIS=1000000000000$DENOM
VAL_BOND=1000000000$DENOM
ACTOR_GENESIS=1000000000$DENOM   # application and supplier accounts
ACTOR_STAKE=100000000$DENOM      # application and supplier stakes

CHECK=false
PIDS=()                      # every background process started, for cleanup
NAMES=()                     # and their names (logs/NAME.log)
START_TIME=0                 # when the budget starts (after the build)

# ---------------------------------------------------------------- output

if [[ -t 1 ]]; then
	BOLD=$'\e[1m' DIM=$'\e[2m' RED=$'\e[31m' GREEN=$'\e[32m' RESET=$'\e[0m'
else
	BOLD='' DIM='' RED='' GREEN='' RESET=''
fi

say() { printf '%s[localnet %s]%s %s\n' "$BOLD" "$(date +%H:%M:%S)" "$RESET" "$*"; }
ok() { printf '%s[localnet %s] %s%s\n' "$GREEN" "$(date +%H:%M:%S)" "$*" "$RESET"; }
detail() { printf '%s    %s%s\n' "$DIM" "$*" "$RESET"; }

# fail prints an error and the tail of every log, then exits 1 (the EXIT
# trap stops the processes).
fail() {
	printf '%s[localnet %s] FAILED: %s%s\n' "$RED" "$(date +%H:%M:%S)" "$*" "$RESET" >&2
	local log
	for log in "$LOGS"/{node,relayminer,appgate}.log; do
		[[ -s $log ]] || continue
		printf '\n%s==> %s (last 25 lines) <==%s\n' "$BOLD" "$log" "$RESET" >&2
		tail -n 25 "$log" >&2
	done
	exit 1
}

# on_error reports a command that failed unexpectedly (set -e would exit
# silently); in a subshell it leaves the report to the parent.
on_error() {
	local status=$?
	if ((BASH_SUBSHELL == 0)); then
		fail "line $1: \`$2\` failed (status $status)"
	fi
}

usage() {
	sed -n '2,/^$/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
}

# ---------------------------------------------------------------- helpers

# pokt runs poktrolld against the localnet home, keyring and node.
pokt() {
	"$BIN" "$@" --home "$NODE_HOME"
}

# q runs a query with JSON output.
q() {
	pokt q "$@" --node "$NODE" -o json
}

# py runs python3 deaf to Ctrl-C: its work takes milliseconds, and the
# script's own trap then stops everything (no KeyboardInterrupt traceback).
py() {
	(
		trap '' INT
		exec "$PYTHON" "$@"
	)
}

# json EXPR [ARGS...] evaluates a Python expression over the JSON document
# on stdin, bound to d, and prints the result (None prints nothing). Empty
# input fails quietly.
json() {
	py -c '
import base64, json, sys
raw = sys.stdin.read()
if not raw.strip():
    sys.exit(1)  # no document: the command before the pipe failed (and said so)
d = json.loads(raw)
r = eval(sys.argv[1])  # extra arguments are in sys.argv[2:]
if r is not None:
    print(r)
' "$@"
}

# deadline WHAT fails once the budget is spent: the first settlement must
# come within BUDGET seconds of the build.
deadline() {
	if ((SECONDS - START_TIME > BUDGET)); then
		fail "no settlement within ${BUDGET}s of the build (was waiting for: $1)"
	fi
}

# wait_for TIMEOUT WHAT CMD... retries CMD every half second until it
# succeeds, for at most TIMEOUT seconds.
wait_for() {
	local timeout=$1 what=$2 start=$SECONDS
	shift 2
	until "$@" >/dev/null 2>&1; do
		((SECONDS - start < timeout)) || fail "timed out after ${timeout}s waiting for $what"
		deadline "$what"
		check_alive
		sleep 0.5
	done
}

# check_alive fails as soon as a process the script started has exited.
check_alive() {
	local i
	for i in "${!PIDS[@]}"; do
		alive "${PIDS[i]}" || fail "${NAMES[i]} (pid ${PIDS[i]}) exited; see $LOGS/${NAMES[i]}.log"
	done
}

# port_busy PORT succeeds when something listens on 127.0.0.1:PORT.
port_busy() {
	if command -v ss >/dev/null; then
		[[ -n $(ss -Hltn "sport = :$1") ]]
	else
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
	fi
}

# start NAME ARGS... runs `poktrolld ARGS` in the background, logging to
# logs/NAME.log. setsid puts it in a session of its own: Ctrl-C reaches the
# script only, and cleanup stops the processes in order (AppGate and
# RelayMiner before the node they use). setsid execs, so $! is the pid of
# poktrolld itself.
start() {
	local name=$1
	shift
	$SETSID "$BIN" "$@" --home "$NODE_HOME" >"$LOGS/$name.log" 2>&1 &
	PIDS+=("$!")
	NAMES+=("$name")
	say "started $name (pid $!), log: ${LOGS#"$ROOT"/}/$name.log"
}

# alive PID fails when a process the script started has died.
alive() {
	kill -0 "$1" 2>/dev/null
}

# stop PID sends SIGTERM and waits up to 15s for the process to exit, then
# kills it.
stop() {
	local pid=$1
	alive "$pid" || { wait "$pid" 2>/dev/null || true; return 0; }
	kill -TERM "$pid" 2>/dev/null || true
	for _ in $(seq 75); do
		alive "$pid" || break
		sleep 0.2
	done
	if alive "$pid"; then
		say "pid $pid ignored SIGTERM for 15s; killing it"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
}

# cleanup stops every process started, newest first (AppGate, RelayMiner,
# node), and tells where the data and logs are. It runs on every exit.
cleanup() {
	local status=$? i
	trap - EXIT
	trap '' INT TERM
	if ((${#PIDS[@]})); then
		echo
		say "stopping the ${#PIDS[@]} process(es) it started"
		for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
			stop "${PIDS[i]}"
		done
	fi
	if [[ -d $DIR ]]; then
		say "data (chain, keyring, configs, RelayMiner store): $DIR"
		say "logs: $LOGS/{node,relayminer,appgate}.log"
	fi
	exit "$status"
}

# ---------------------------------------------------------------- chain set-up

# build runs `make build` (a no-op when make localnet just did it).
build() {
	say "building bin/poktrolld"
	make -C "$ROOT" --no-print-directory -s build
}

check_ports() {
	local port busy=()
	for port in $P2P_PORT $RPC_PORT $GRPC_PORT $RELAYMINER_PORT $RELAYMINER_HEALTH_PORT $APPGATE_PORT; do
		if port_busy "$port"; then busy+=("$port"); fi
	done
	if ((${#busy[@]})); then
		say "${RED}port(s) ${busy[*]} on 127.0.0.1 already in use${RESET}" >&2
		say "stop whatever listens there (a previous localnet? see: ss -ltnp) and try again" >&2
		exit 1
	fi
}

# init_chain creates the node home, keys, genesis and configs.
init_chain() {
	say "creating a one-validator chain in ${DIR#"$ROOT"/}"
	rm -rf "$DIR"
	mkdir -p "$LOGS"
	pokt init localnet --chain-id "$CHAIN_ID" --default-denom "$DENOM" >"$LOGS/init.log" 2>&1
	local name
	for name in val app supplier; do
		pokt keys add "$name" --keyring-backend test >>"$LOGS/init.log" 2>&1
	done
	APP=$(pokt keys show app -a --keyring-backend test)
	SUPPLIER=$(pokt keys show supplier -a --keyring-backend test)
	detail "application $APP"
	detail "supplier    $SUPPLIER"

	pokt genesis add-genesis-account val "$VAL_GENESIS" --keyring-backend test
	pokt genesis add-genesis-account app "$ACTOR_GENESIS" --keyring-backend test
	pokt genesis add-genesis-account supplier "$ACTOR_GENESIS" --keyring-backend test
	pokt genesis gentx val "$VAL_BOND" --chain-id "$CHAIN_ID" --keyring-backend test >>"$LOGS/init.log" 2>&1
	pokt genesis collect-gentxs >>"$LOGS/init.log" 2>&1

	# Short sessions and windows: session (4 blocks), grace (1), claim window
	# (opens 2 later, 4 blocks), proof window (opens 1 later, 4 blocks); at
	# one block a second a session is settled ~15s after it ends.
	py - "$NODE_HOME/config/genesis.json" <<'EOF'
import json, sys
path = sys.argv[1]
g = json.load(open(path))
p = g["app_state"]["relayer"]["params"]
p.update({
    "num_blocks_per_session": "4",
    "grace_period_end_offset_blocks": "1",
    "claim_window_open_offset_blocks": "2",
    "claim_window_close_offset_blocks": "4",
    "proof_window_open_offset_blocks": "1",
    "proof_window_close_offset_blocks": "4",
    "compute_units_to_tokens_multiplier": "1",
    "proof_request_probability_ppm": "1000000",
})
json.dump(g, open(path, "w"), indent=1)
EOF
	pokt genesis validate-genesis >>"$LOGS/init.log" 2>&1 || fail "genesis does not validate (see $LOGS/init.log)"

	# One block a second, everything on 127.0.0.1, no pprof, no REST API.
	py - "$NODE_HOME/config" "$P2P_PORT" "$RPC_PORT" "$GRPC_PORT" <<'EOF'
import re, sys
cfg, p2p, rpc, grpc = sys.argv[1:]

def edit(name, section_edits):
    path = f"{cfg}/{name}"
    lines = open(path).read().split("\n")
    section = ""
    for i, line in enumerate(lines):
        m = re.match(r"^\[([^\]]+)\]", line)
        if m:
            section = m.group(1)
            continue
        for (sec, key), value in section_edits.items():
            if sec == section and re.match(rf"^{re.escape(key)}\s*=", line):
                lines[i] = f"{key} = {value}"
    open(path, "w").write("\n".join(lines))

edit("config.toml", {
    ("", "moniker"): '"localnet"',
    ("rpc", "laddr"): f'"tcp://127.0.0.1:{rpc}"',
    ("rpc", "pprof_laddr"): '""',
    ("p2p", "laddr"): f'"tcp://127.0.0.1:{p2p}"',
    ("consensus", "timeout_commit"): '"1s"',
    ("consensus", "timeout_propose"): '"1s"',
})
edit("app.toml", {
    ("", "minimum-gas-prices"): '"0upokt"',
    ("api", "enable"): "false",
    ("grpc", "address"): f'"127.0.0.1:{grpc}"',
})
edit("client.toml", {
    ("", "keyring-backend"): '"test"',
    ("", "node"): f'"tcp://127.0.0.1:{rpc}"',
})
EOF
}

start_node() {
	start node start --log_no_color
	wait_for 60 "the node's first block" node_height_at_least 1
	ok "chain $CHAIN_ID is producing blocks (RPC $RPC_URL, gRPC 127.0.0.1:$GRPC_PORT)"
}

# height prints the latest block height.
height() {
	curl -sf "$RPC_URL/status" | json 'd["result"]["sync_info"]["latest_block_height"]'
}

node_height_at_least() {
	local h
	h=$(height) && ((h >= $1))
}

# ---------------------------------------------------------------- transactions

# tx FROM ARGS... broadcasts `poktrolld tx relayer ARGS` signed by FROM and
# waits for it to be included with code 0.
tx() {
	local from=$1 out hash code
	shift
	out=$(pokt tx relayer "$@" --from "$from" --keyring-backend test --chain-id "$CHAIN_ID" \
		--node "$NODE" --gas auto --gas-adjustment 1.5 --yes --broadcast-mode sync -o json 2>>"$LOGS/tx.log") ||
		fail "tx relayer $1 from $from: $out $(tail -n 3 "$LOGS/tx.log")"
	hash=$(json 'd["txhash"]' <<<"$out") || fail "tx relayer $1 from $from: $out"
	code=$(json 'd.get("code", 0)' <<<"$out")
	[[ $code == 0 ]] || fail "tx relayer $1 from $from refused (code $code): $(json 'd.get("raw_log")' <<<"$out")"
	local start=$SECONDS
	until out=$(q tx "$hash" 2>/dev/null); do
		((SECONDS - start < 30)) || fail "tx $hash ($1) not included after 30s"
		sleep 0.5
	done
	code=$(json 'd.get("code", 0)' <<<"$out")
	[[ $code == 0 ]] || fail "tx relayer $1 from $from failed (code $code): $(json 'd.get("raw_log")' <<<"$out")"
	detail "$1 from $from: included at height $(json 'd["height"]' <<<"$out") (tx $hash)"
}

stake_actors() {
	say "registering service $SERVICE_ID ($COMPUTE_UNITS_PER_RELAY compute units per relay), staking the application and the supplier"
	tx val add-service "$SERVICE_ID" "$SERVICE_NAME" "$COMPUTE_UNITS_PER_RELAY"
	tx app stake-application "$ACTOR_STAKE" "$SERVICE_ID"
	tx supplier stake-supplier "$ACTOR_STAKE" \
		"{\"service_id\":\"$SERVICE_ID\",\"endpoint_url\":\"http://127.0.0.1:$RELAYMINER_PORT\",\"rpc_type\":\"RPC_TYPE_JSON_RPC\"}"
	say "waiting for the stakes to take part in a session (from the next session start)"
	wait_for 60 "a session with the application and the supplier" session_has_supplier
	ok "session $(session_field 'd["session"]["header"]["session_id"][:16]')… holds the application and the supplier"
}

# session_field EXPR prints EXPR over the current session of the app.
session_field() {
	q relayer get-session "$APP" "$SERVICE_ID" | json "$1"
}

session_has_supplier() {
	[[ $(session_field "'$SUPPLIER' in [s['operator_address'] for s in d['session'].get('suppliers', [])]") == True ]]
}

# ---------------------------------------------------------------- off-chain processes

start_relayminer() {
	cat >"$DIR/relayminer.yaml" <<EOF
# RelayMiner of the localnet supplier; the backend is the node's CometBFT RPC.
chain:
  rpc_url: $RPC_URL
  grpc_url: 127.0.0.1:$GRPC_PORT
  chain_id: $CHAIN_ID
store:
  path: $DIR/relayminer-store
metrics:
  listen: ""
health:
  listen: 127.0.0.1:$RELAYMINER_HEALTH_PORT
suppliers:
  - key_name: supplier
    services:
      - service_id: $SERVICE_ID
        listen: 127.0.0.1:$RELAYMINER_PORT
        backend_url: $RPC_URL
        request_timeout: 10s
EOF
	start relayminer relayminer start --config "$DIR/relayminer.yaml" --keyring-backend test
	wait_for 60 "the RelayMiner's health endpoint" curl -sf "http://127.0.0.1:$RELAYMINER_HEALTH_PORT/"
	ok "RelayMiner serving $SERVICE_ID on 127.0.0.1:$RELAYMINER_PORT → backend $RPC_URL"
}

start_appgate() {
	cat >"$DIR/appgate.yaml" <<EOF
# AppGate of the localnet application: $APPGATE_URL<path>.
chain:
  rpc_url: $RPC_URL
  grpc_url: 127.0.0.1:$GRPC_PORT
listen: 127.0.0.1:$APPGATE_PORT
application:
  key_name: app
services: [$SERVICE_ID]
request_timeout: 10s
max_body_bytes: 4194304
metrics:
  listen: ""
health:
  listen: ""
EOF
	start appgate appgate start --config "$DIR/appgate.yaml" --keyring-backend test
	wait_for 60 "the AppGate to listen on 127.0.0.1:$APPGATE_PORT" port_busy "$APPGATE_PORT"
	ok "AppGate serving the application at $APPGATE_URL"
}

# ---------------------------------------------------------------- relays

# relay N METHOD sends JSON-RPC METHOD through the AppGate and prints a
# one-line summary of the answer; it fails when the relay was not served
# (not a 200 with a JSON-RPC result).
relay() {
	local n=$1 method=$2 out code body summary=""
	out=$(curl -s -m 15 -w '\n%{http_code}' -X POST "$APPGATE_URL" \
		-H 'Content-Type: application/json' \
		-d "{\"jsonrpc\":\"2.0\",\"id\":$n,\"method\":\"$method\",\"params\":{}}") || out=$'\n000'
	code=${out##*$'\n'}
	body=${out%$'\n'*}
	# What the node answered, picked out with regexes (no process per relay).
	if [[ $body =~ \"latest_block_height\":\"([0-9]+)\" ]]; then
		summary="node at height ${BASH_REMATCH[1]}"
	elif [[ $body =~ \"data\":\"([^\"]*)\".*\"last_block_height\":\"([0-9]+)\" ]]; then
		summary="app ${BASH_REMATCH[1]}, last block ${BASH_REMATCH[2]}"
	elif [[ $body =~ \"chain_id\":\"[^\"]*\",\"height\":\"([0-9]+)\" ]]; then
		summary="block ${BASH_REMATCH[1]}"
	elif [[ $body =~ \"message\":\"([^\"]*)\" ]]; then
		summary="error: ${BASH_REMATCH[1]}"
	else
		summary=${body:0:120}
	fi
	if [[ $code == 200 && $body == *'"result"'* ]]; then
		detail "relay $n $method → $code, $summary (${#body} bytes)"
		return 0
	fi
	printf '%s    relay %s %s → %s, %s%s\n' "$RED" "$n" "$method" "$code" "$summary" "$RESET"
	return 1
}

METHODS=(status abci_info block)
SERVED=0   # relays served (answered 200 with a JSON-RPC result)
FAILED=0   # relays refused or failed

# send_relays COUNT sends COUNT relays, cycling through METHODS.
send_relays() {
	local count=$1 i
	for ((i = 1; i <= count; i++)); do
		deadline "sending relays"
		if relay "$((SERVED + FAILED + 1))" "${METHODS[i % ${#METHODS[@]}]}"; then
			SERVED=$((SERVED + 1))
		else
			FAILED=$((FAILED + 1))
		fi
	done
}

# wait_session_start waits until the next session has started and the
# current one's grace period (1 block) is over, so that the relays that
# follow land in one session.
wait_session_start() {
	local end
	end=$(session_field 'd["session"]["header"]["session_end_block_height"]')
	wait_for 30 "the session after height $end" node_height_at_least "$((end + 2))"
}

# ---------------------------------------------------------------- following the chain

supplier_balance() {
	q bank balances "$SUPPLIER" | json "next((int(c['amount']) for c in d.get('balances', []) if c['denom'] == '$DENOM'), 0)"
}

app_stake() {
	q relayer application "$APP" | json "int(d['application']['stake']['amount'])"
}

app_balance() {
	q bank balances "$APP" | json "next((int(c['amount']) for c in d.get('balances', []) if c['denom'] == '$DENOM'), 0)"
}

print_balances() {
	detail "application stake   $(app_stake)$DENOM"
	detail "application balance $(app_balance)$DENOM"
	detail "supplier balance    $(supplier_balance)$DENOM"
}

declare -A CLAIMED=()   # session id → proof window close height
declare -A PROVEN=()    # session id → 1
SETTLED_AMOUNT=0
SETTLED_CLAIMS=0
EXPIRED_CLAIMS=0

# follow_claims prints the supplier's new claims and proofs, and the
# settlement (or expiry) of every claim whose proof window has closed.
follow_claims() {
	local claims proof sid close first last relays units h
	# One line per claim: session id, proof window close, session start and
	# end heights, relays and compute units (the root's count and sum).
	claims=$(q relayer claims --supplier-operator-address "$SUPPLIER" | json '
"\n".join("%s %s %s %s %d %d" % (c["session_header"]["session_id"], c["proof_window_close_height"],
    c["session_header"]["session_start_block_height"], c["session_header"]["session_end_block_height"],
    int.from_bytes(base64.b64decode(c["root_hash"])[40:48], "big"),
    int.from_bytes(base64.b64decode(c["root_hash"])[32:40], "big"))
  for c in d.get("claims", []))') || return 0
	while read -r sid close first last relays units; do
		[[ -n $sid ]] || continue
		if [[ -z ${CLAIMED[$sid]:-} ]]; then
			CLAIMED[$sid]=$close
			ok "claim: session ${sid:0:16}… (blocks $first-$last): $relays relays, $units compute units; proof window closes at height $close"
		fi
		if [[ -z ${PROVEN[$sid]:-} ]] && proof=$(q relayer proof "$sid" "$SUPPLIER" 2>/dev/null); then
			PROVEN[$sid]=1
			ok "proof: session ${sid:0:16}… proven with $(json '"%d leaf proofs (%d bytes)" % (len(d["proof"]["leaf_proofs"]), sum(len(base64.b64decode(p["leaf"])) + sum(len(base64.b64decode(s)) for s in p.get("side_nodes", [])) for p in d["proof"]["leaf_proofs"]))' <<<"$proof")"
		fi
	done <<<"$claims"

	h=$(height) || return 0
	for sid in "${!CLAIMED[@]}"; do
		close=${CLAIMED[$sid]}
		((h > close)) || continue
		settlement "$sid" "$close" || continue
		unset "CLAIMED[$sid]" "PROVEN[$sid]"
	done
}

# settlement SESSION HEIGHT prints what happened to the claim in the end
# block of HEIGHT, where its proof window closed: the EventClaimSettled or
# EventClaimExpired the chain emitted for it. It fails when the node could
# not be asked (the caller tries again).
settlement() {
	local sid=$1 close=$2 events result kind amount units required capped reason
	events=$(curl -sf "$RPC_URL/block_results?height=$close") || return 1
	# "settled AMOUNT UNITS PROOF_REQUIRED CAPPED" or "expired - - - - REASON"
	result=$(py -c '
import json, sys
sid = sys.argv[1]
for e in json.load(sys.stdin)["result"].get("finalize_block_events") or []:
    kind = e["type"].split(".")[-1]
    a = {x["key"]: x["value"] for x in e["attributes"]}
    if sid not in a.get("claim", ""):
        continue
    if kind == "EventClaimSettled":
        print("settled", json.loads(a["amount"])["amount"], json.loads(a.get("num_claimed_compute_units", "0")),
              a.get("proof_required", "false"), a.get("capped", "false"))
    elif kind == "EventClaimExpired":
        print("expired - - - -", json.loads(a.get("reason", "\"\"")))
' "$sid" <<<"$events")
	read -r kind amount units required capped reason <<<"$result"
	case ${kind:-} in
	settled)
		SETTLED_AMOUNT=$((SETTLED_AMOUNT + amount))
		SETTLED_CLAIMS=$((SETTLED_CLAIMS + 1))
		ok "settlement: session ${sid:0:16}… paid $amount$DENOM to the supplier for $units compute units at height $close (proof required: $required, capped by the stake: $capped)"
		;;
	expired)
		EXPIRED_CLAIMS=$((EXPIRED_CLAIMS + 1))
		say "${RED}claim of session ${sid:0:16}… expired at height $close: $reason${RESET}"
		;;
	*)
		EXPIRED_CLAIMS=$((EXPIRED_CLAIMS + 1))
		say "${RED}claim of session ${sid:0:16}… left the chain at height $close without a settlement event${RESET}"
		;;
	esac
}

# wait_for_payment AMOUNT follows the chain until the supplier has been paid
# AMOUNT more than SUPPLIER_BEFORE and no claim is pending (or something went
# wrong: a claim expired, or more was paid).
wait_for_payment() {
	local expected=$1 paid
	while :; do
		deadline "the settlement of ${expected}$DENOM"
		check_alive
		follow_claims
		paid=$(($(supplier_balance) - SUPPLIER_BEFORE))
		if ((paid >= expected && ${#CLAIMED[@]} == 0)) || ((EXPIRED_CLAIMS > 0 || paid > expected)); then
			return
		fi
		sleep 1
	done
}

# ---------------------------------------------------------------- main

parse_args() {
	while (($#)); do
		case $1 in
		--check) CHECK=true ;;
		-h | --help) usage; exit 0 ;;
		*) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
		esac
		shift
	done
}

main() {
	parse_args "$@"
	command -v curl >/dev/null || { echo "localnet needs curl" >&2; exit 1; }
	# Resolve python3 once: version-manager shims (pyenv) cost ~0.5s a call.
	PYTHON=$(python3 -c 'import sys; print(sys.executable)') || { echo "localnet needs python3" >&2; exit 1; }
	SETSID=$(command -v setsid || true)
	trap cleanup EXIT
	trap 'on_error "$LINENO" "$BASH_COMMAND"' ERR
	trap 'exit 130' INT TERM

	build
	START_TIME=$SECONDS
	check_ports
	init_chain
	start_node
	stake_actors
	start_relayminer
	start_appgate

	local multiplier expected
	multiplier=$(q relayer params | json 'int(d["params"]["compute_units_to_tokens_multiplier"])')
	SUPPLIER_BEFORE=$(supplier_balance)
	APP_STAKE_BEFORE=$(app_stake)
	say "balances before the relays"
	print_balances

	wait_session_start
	say "sending $RELAYS relays through the AppGate: curl -X POST $APPGATE_URL -d '{\"jsonrpc\":\"2.0\",\"method\":\"status\",...}'"
	send_relays "$RELAYS"
	((SERVED > 0)) || fail "no relay was served"
	expected=$((SERVED * COMPUTE_UNITS_PER_RELAY * multiplier))
	ok "$SERVED of $RELAYS relays served; expected payment $SERVED relays × $COMPUTE_UNITS_PER_RELAY compute units × $multiplier = $expected$DENOM"

	say "following the claim, the proof and the settlement (one block a second)"
	wait_for_payment "$expected"

	local paid app_paid
	paid=$(($(supplier_balance) - SUPPLIER_BEFORE))
	app_paid=$((APP_STAKE_BEFORE - $(app_stake)))
	say "balances after the settlement"
	print_balances
	detail "supplier +$paid$DENOM, application stake -$app_paid$DENOM (expected $expected$DENOM)"
	if ((paid != expected || app_paid != expected || SETTLED_AMOUNT != expected || EXPIRED_CLAIMS > 0)); then
		fail "expected the supplier to be paid $expected$DENOM from the application stake; got supplier +$paid, stake -$app_paid, settled $SETTLED_AMOUNT in $SETTLED_CLAIMS claim(s), $EXPIRED_CLAIMS expired"
	fi
	ok "settled: the supplier was paid exactly $expected$DENOM for $SERVED relays in $SETTLED_CLAIMS claim(s) ($((SECONDS - START_TIME))s after the build)"

	if $CHECK; then
		ok "localnet check passed"
		exit 0
	fi

	# Interactive: keep relaying and settling until Ctrl-C.
	say "running: a relay every 3s, claims, proofs and settlements as they happen; Ctrl-C stops everything"
	detail "send your own: curl -s -X POST $APPGATE_URL -H 'Content-Type: application/json' -d '{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"status\",\"params\":{}}'"
	detail "or query:      $BIN q relayer claims --home $NODE_HOME -o json"
	local next_relay=$SECONDS settled=$SETTLED_CLAIMS
	while :; do
		if ((SECONDS >= next_relay)); then
			if relay "$((SERVED + FAILED + 1))" "${METHODS[RANDOM % ${#METHODS[@]}]}"; then
				SERVED=$((SERVED + 1))
			else
				FAILED=$((FAILED + 1))
			fi
			next_relay=$((SECONDS + 3))
		fi
		check_alive
		follow_claims
		if ((SETTLED_CLAIMS > settled)); then
			settled=$SETTLED_CLAIMS
			detail "supplier balance now $(supplier_balance)$DENOM, application stake $(app_stake)$DENOM ($SERVED relays served in all)"
		fi
		sleep 1
	done
}

main "$@"
