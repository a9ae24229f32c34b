#!/usr/bin/env bash
# test_mpi_netns.sh — the MPI train checks across two "hosts": two network
# namespaces joined by a veth pair, each with a host name of its own, Open MPI
# over TCP between them (a launcher agent runs the remote daemon with
# `ip netns exec`). Exits 77 where namespaces cannot be made (no root, no
# CAP_NET_ADMIN, no iproute2) or the build has no MPI.
# Usage: test_mpi_netns.sh STREAMFIT DATA_DIR
set -u
sf="$1"
data="$2"
here="$(cd "$(dirname "$0")" && pwd)"
command -v ip >/dev/null || { echo "SKIP: iproute2 (ip) not installed"; exit 77; }
command -v mpirun >/dev/null || { echo "SKIP: mpirun not found"; exit 77; }
"$sf" info | grep -q "mpi: on" || { echo "SKIP: this build has no MPI"; exit 77; }
tag="sf$$"
a="${tag}a" b="${tag}b"
net="10.$((RANDOM % 200 + 20)).$((RANDOM % 250)).0"
ipa="${net%.0}.1" ipb="${net%.0}.2"
cleanup() { ip netns del "$a" 2>/dev/null; ip netns del "$b" 2>/dev/null; }
trap cleanup EXIT
if ! ip netns add "$a" 2>/dev/null; then
  echo "SKIP: cannot create network namespaces (needs root or CAP_NET_ADMIN)"
  exit 77
fi
ip netns add "$b" && ip link add "${tag}va" type veth peer name "${tag}vb" &&
  ip link set "${tag}va" netns "$a" && ip link set "${tag}vb" netns "$b" &&
  ip -n "$a" addr add "$ipa/24" dev "${tag}va" && ip -n "$b" addr add "$ipb/24" dev "${tag}vb" &&
  ip -n "$a" link set "${tag}va" up && ip -n "$b" link set "${tag}vb" up &&
  ip -n "$a" link set lo up && ip -n "$b" link set lo up ||
  { echo "SKIP: cannot wire the namespaces (veth)"; exit 77; }
export SF_NETNS_MAP="$ipa=$a $ipb=$b"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mca="--mca plm_rsh_agent $here/netns_agent.sh --mca btl tcp,self
     --mca btl_tcp_if_include $net/24 --mca oob_tcp_if_include $net/24"
# Host A runs mpirun (and its ranks) in its namespace; host B's daemon comes
# through the agent. Ranks alternate between the hosts.
prefix="ip netns exec $a unshare --uts sh -c 'hostname $a; exec \"\$0\" \"\$@\"'"
echo "== streamfit info across the two hosts"
ip netns exec "$a" unshare --uts sh -c "hostname $a; exec \"\$0\" \"\$@\"" mpirun \
  --host "$ipa:2,$ipb:2" --map-by node -np 2 $mca "$sf" info | sed -n 3,6p
out="$(ip netns exec "$a" unshare --uts sh -c "hostname $a; exec \"\$0\" \"\$@\"" mpirun \
  --host "$ipa:2,$ipb:2" --map-by node -np 2 $mca "$sf" info)"
echo "$out" | grep -q "rank 1 of 2 on $b" || { echo "FAILED: rank 1 is not on host $b"; exit 1; }
python3 "$here/test_mpi_train.py" "$sf" "$data" --quick --launcher-prefix "$prefix" \
  --mpirun-args "--host $ipa:3,$ipb:3 --map-by node $(echo $mca)"
