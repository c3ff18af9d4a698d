# Shell helpers shared by deploy/stack and deploy/update (sourced, not run): recorded PIDs only,
# never a process found by name.

abs() { (cd "$1" && pwd); }

alive() {  # running, and not a zombie (an exited pool process whose new parent does not reap it)
    [ -n "$1" ] && kill -0 "$1" 2>/dev/null || return 1
    local state
    state="$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)" || return 0
    [ "$state" != Z ]
}

read_pids() {  # the pids of a pid file, one per line (spawn-fcgi writes no newline after the last one)
    local pid
    [ -f "$1" ] || return 0
    while read -r pid || [ -n "$pid" ]; do [ -n "$pid" ] && echo "$pid"; done < "$1"
}

stop_pids() {  # TERM the given pids (each finishes its request), wait up to 10 s, then KILL what is left
    local pid left
    for pid in "$@"; do alive "$pid" && kill -TERM "$pid" 2>/dev/null || true; done
    for _ in $(seq 1 100); do
        left=0
        for pid in "$@"; do alive "$pid" && left=1; done
        [ "$left" = 0 ] && return 0
        sleep 0.1
    done
    for pid in "$@"; do alive "$pid" && kill -KILL "$pid" 2>/dev/null || true; done
}

stop_pid_file() {  # stop_pids on the pids a file records, then remove the file
    local pids
    mapfile -t pids < <(read_pids "$1")
    [ "${#pids[@]}" -eq 0 ] || stop_pids "${pids[@]}"
    rm -f "$1"
}

start_pool() {  # start_pool VAR BIN ENDPOINT SOCKET PIDFILE PROCESSES: one spawn-fcgi pool of an endpoint
    local var="$1" bin="$2" endpoint="$3" socket="$4" pid_file="$5" processes="$6"
    mkdir -p "$var/logs"
    # Logs: spawn-fcgi points its workers' stderr at /dev/null, so each endpoint writes its lines to
    # $GPTAUTH_LOG/<endpoint>.log itself (S43). The socket is 0660: only this user (and its group)
    # can speak FastCGI to the pool and set its parameters (S37). Descriptor 9 (deploy/update's
    # lock) is not inherited.
    env GPTAUTH_DATA="$var/data" GPTAUTH_CLIENT_ID="${GPTAUTH_CLIENT_ID:-}" GPTAUTH_LOG="$var/logs" \
        spawn-fcgi -s "$socket" -M 0660 -F "$processes" -P "$pid_file" \
        -- "$bin/$endpoint" > /dev/null 2>> "$var/logs/spawn-fcgi.log" < /dev/null 9>&-
}
