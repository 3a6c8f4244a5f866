# Shell helpers shared by the benchmark scripts (source it).

# wrk's latency figure ("812.00us", "1.25ms", "2.00s") in microseconds.
to_us() {
  awk '{v=$1; if (v ~ /us$/) {sub(/us/,"",v); print v} else if (v ~ /ms$/) {sub(/ms/,"",v); print v*1000} else if (v ~ /s$/) {sub(/s/,"",v); print v*1000000} else print "nan"}'
}

# CPU time (ns) used so far by process PID, all its threads and its direct
# children's (nginx's workers), from /proc/*/task/*/schedstat. On a shared
# VM the CPU a server gets varies from second to second; CPU per request
# does not, so scripts report it beside req/s.
cpu_ns() {
  local total=0 p t run rest
  for p in "$1" $(pgrep -P "$1" || true); do
    for t in /proc/"$p"/task/*/schedstat; do
      if read -r run rest < "$t" 2>/dev/null; then total=$((total + run)); fi
    done
  done
  echo "$total"
}

# A CPU cgroup that holds the processes in it to PCT percent of one core
# (CFS bandwidth control: PCT/100 of every 10 ms period), so that a server,
# not the load generator on the other core, is what limits a run: on this
# 2-core VM wrk's core saturates first in some modes (a new connection per
# request), and then every server measures wrk. Prints the file a process
# writes its pid to, to join (its children and threads follow); pass that
# path to cpu_quota_cgroup_remove once its processes are gone. cgroup v1
# (the cpu controller) or v2 (cpu.max); needs root.
cpu_quota_cgroup() {  # pct, 10..100
  local pct=$1 period=10000 dir
  if ! [[ "$pct" =~ ^[0-9]+$ ]] || ((pct < 10 || pct > 100)); then
    echo "QUOTA: a percentage of one core from 10 to 100, not '$pct'" >&2; return 1
  fi
  if [[ -f /sys/fs/cgroup/cgroup.controllers ]]; then
    grep -qw cpu /sys/fs/cgroup/cgroup.controllers || { echo "cgroup v2 has no cpu controller" >&2; return 1; }
    # Left on: it only lets child groups use the controller.
    grep -qw cpu /sys/fs/cgroup/cgroup.subtree_control || echo +cpu > /sys/fs/cgroup/cgroup.subtree_control || return 1
    dir=/sys/fs/cgroup/brisk-bench-$$
    mkdir "$dir" || return 1
    echo "$((pct * period / 100)) $period" > "$dir/cpu.max" || { rmdir "$dir"; return 1; }
  elif [[ -d /sys/fs/cgroup/cpu ]]; then
    dir=/sys/fs/cgroup/cpu/brisk-bench-$$
    mkdir "$dir" || return 1
    { echo "$period" > "$dir/cpu.cfs_period_us" &&
      echo "$((pct * period / 100))" > "$dir/cpu.cfs_quota_us"; } || { rmdir "$dir"; return 1; }
  else
    echo "no cpu cgroup controller mounted" >&2; return 1
  fi
  echo "$dir/cgroup.procs"
}

# Removes the group. Any process still in it is one this run started (a
# server whose script was interrupted): it is stopped by pid first (TERM,
# then KILL after 5 s), as a group with a process in it cannot be removed.
# Status 1, with a message, if the group is still there.
cpu_quota_cgroup_remove() {  # the path cpu_quota_cgroup printed
  local procs=${1:-} dir left i
  [[ -n "$procs" ]] || return 0
  dir=$(dirname "$procs")
  [[ -d "$dir" ]] || return 0
  for i in $(seq 60); do
    left=$(cat "$procs" 2>/dev/null || true)
    [[ -z "$left" ]] && break
    # shellcheck disable=SC2086
    if ((i <= 50)); then kill $left 2>/dev/null || true; else kill -KILL $left 2>/dev/null || true; fi
    sleep 0.1
  done
  rmdir "$dir" 2>/dev/null && return 0
  echo "could not remove cgroup $dir (processes in it: $(tr '\n' ' ' < "$procs" 2>/dev/null))" >&2
  return 1
}

# From wrk --latency output on stdin: "REQUESTS RPS P99_US ERRORS".
wrk_fields() {
  awk '
    /requests in/ {n=$1}
    /Requests\/sec/ {r=$2}
    $1=="99%" {p=$2}
    /Socket errors/ {e+=$4+$6+$8+$10}
    /Non-2xx/ {e+=$NF}
    END {printf "%s %s %s %d\n", n+0, r+0, (p==""?"nan":p), e+0}' | tr -d ',' |
  while read -r n r p e; do echo "$n $r $(echo "$p" | to_us) $e"; done
}

# Installs the Debian packages given that are missing (benchmarks only; the
# build's own packages are tools/bazel's).
need_packages() {
  local need=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
  done
  if ((${#need[@]})); then
    echo "installing: ${need[*]}" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >&2
  fi
}

# Polls URL (curl; certificates are not checked) until it answers, up to
# TRIES times DELAY seconds apart. Status 1 if it never did.
wait_for_url() {  # url [tries=100] [delay=0.1]
  local _
  for _ in $(seq "${2:-100}"); do
    curl -sk -o /dev/null "$1" && return 0
    sleep "${3:-0.1}"
  done
  return 1
}

# Status 1, with a message naming the port, if something already listens on
# 127.0.0.1:PORT: a server left over from an interrupted run would answer in
# place of the one about to start (which fails to bind, or with SO_REUSEPORT
# shares the port with it).
port_free() {  # port
  if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
    echo "port $1 on 127.0.0.1 is already in use (a server left from an earlier run? ss -ltnp 'sport = :$1' shows it): stop it and run again" >&2
    return 1
  fi
}

# Whether PID is a live process (a child that exited and is not yet reaped,
# a zombie, is not).
pid_alive() {  # pid
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  [[ "${stat##*) }" != Z* ]]
}

# After starting server NAME as PID: waits until URL answers (wait_for_url's
# TRIES and DELAY) and checks that PID is still alive, so that what answered
# is the server just started. Else status 1, with the end of LOG.
server_started() {  # name pid url log [tries=100] [delay=0.1]
  local _
  for _ in $(seq "${5:-100}"); do
    pid_alive "$2" || break
    if curl -sk -o /dev/null "$3"; then pid_alive "$2" && return 0; break; fi
    sleep "${6:-0.1}"
  done
  if pid_alive "$2"; then
    echo "$1 (pid $2) did not answer on $3; end of $4:" >&2
  else
    echo "$1 (pid $2) exited instead of serving $3; end of $4:" >&2
  fi
  tail -n 20 "$4" >&2 2>/dev/null || true
  return 1
}

# One ECDSA P-256 certificate for localhost and 127.0.0.1, valid two days:
# DIR/cert.pem and DIR/key.pem (the caller removes DIR, key included).
make_ecdsa_cert() {  # dir
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$1/key.pem" -out "$1/cert.pem" -days 2 -subj /CN=localhost \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>/dev/null
}
