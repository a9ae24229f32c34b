#!/bin/sh
# netns_agent.sh — Open MPI's remote launcher (plm_rsh_agent) for the
# cross-host test: called as an ssh would be, "agent [options] HOST COMMAND",
# it runs COMMAND inside HOST's network namespace, with a host name of its
# own (a UTS namespace), as a daemon on another machine would run.
# SF_NETNS_MAP: "IP=NAMESPACE IP=NAMESPACE ...".
while [ "${1#-}" != "$1" ]; do shift; done
host="$1"
shift
for pair in $SF_NETNS_MAP; do
  if [ "${pair%%=*}" = "$host" ]; then
    ns="${pair#*=}"
    exec ip netns exec "$ns" unshare --uts sh -c "hostname $ns; $*"
  fi
done
echo "netns_agent: no namespace for host $host" >&2
exit 1
