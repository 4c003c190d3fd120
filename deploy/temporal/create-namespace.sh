#!/bin/sh
# One-shot job (temporalio/admin-tools): wait until the Temporal frontend serves, then
# register the namespace agentchat uses unless it exists. Safe to re-run.
set -eu

address=${TEMPORAL_ADDRESS:-temporal:7233}
namespace=${NAMESPACE:-default}
retention=${RETENTION:-72h}

# Dial the server's IPv4 address: it binds 0.0.0.0 only, and the CLI may otherwise try an
# IPv6 address first where the network has one (the same workaround as Temporal's samples).
host=${address%:*}
port=${address##*:}
ip=$(getent ahosts "${host}" 2>/dev/null | awk '/STREAM/ && $1 ~ /^[0-9.]+$/ { print $1; exit }')
if [ -n "${ip}" ]; then
    address="${ip}:${port}"
fi

attempt=0
until temporal operator cluster health --address "${address}" >/dev/null 2>&1; do
    attempt=$((attempt + 1))
    if [ "${attempt}" -ge 60 ]; then
        echo "temporal at ${address} did not become healthy" >&2
        exit 1
    fi
    sleep 2
done

if temporal operator namespace describe --address "${address}" --namespace "${namespace}" >/dev/null 2>&1; then
    echo "temporal namespace ${namespace}: exists"
else
    temporal operator namespace create --address "${address}" --namespace "${namespace}" \
        --retention "${retention}" --description "agentchat conversations"
    echo "temporal namespace ${namespace}: created (retention ${retention})"
fi
