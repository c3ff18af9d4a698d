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

pool_workers() {  # the worker pids of a pool's supervisor (its children), one per line
    local task
    for task in /proc/"$1"/task/*/children; do
        [ -r "$task" ] || continue
        tr ' ' '\n' < "$task" | sed '/^$/d'
    done
}

stop_pool() {  # stop_pool PIDFILE: TERM the supervisor (it tells its workers to stop, and exits
               # when they have finished their requests); whatever is left after 10 s gets KILL
    local supervisors workers=() pid
    mapfile -t supervisors < <(read_pids "$1")
    for pid in "${supervisors[@]}"; do mapfile -t -O "${#workers[@]}" workers < <(pool_workers "$pid"); done
    [ "${#supervisors[@]}" -eq 0 ] || stop_pids "${supervisors[@]}"
    [ "${#workers[@]}" -eq 0 ] || stop_pids "${workers[@]}"
    rm -f "$1"
}

start_pool() {  # start_pool VAR BIN ENDPOINT SOCKET PIDFILE PROCESSES: one supervised pool of an endpoint
    local var="$1" bin="$2" endpoint="$3" socket="$4" pid_file="$5" processes="$6" pid
    mkdir -p "$var/logs"
    # spawn-fcgi binds the socket onto descriptor 0 and, with -n, turns into multiwatch in the same
    # process, which forks PROCESSES workers sharing that socket and replaces any worker that ends
    # at once. -t 1000 -r 10: a worker that ends within 1 s of its start counts as a failed start,
    # and a slot is given up after 10 in a row (a binary that cannot run at all); a worker of ours
    # in a crash loop waits before serving instead (WorkerRecovery), so it is never given up.
    # Stopping: multiwatch passes SIGTERM on to its workers as SIGUSR1, which the endpoints take as
    # SIGTERM (finish the request, then exit). Not -s TERM: Debian's multiwatch 1.0.0 sends the
    # name's position in its list instead (-s TERM sends SIGQUIT, measured with strace).
    # The pid file records the supervisor; its workers are its children (pool_workers).
    # Logs: each endpoint writes its lines, including which worker died and how
    # (worker_replaced), to $GPTAUTH_LOG/<endpoint>.log itself (S43); multiwatch's own lines go to
    # logs/supervisor.log. The socket is 0660: only this user (and its group) can speak FastCGI to
    # the pool and set its parameters (S37). Descriptor 9 (deploy/update's lock) is not inherited.
    GPTAUTH_DATA="$var/data" GPTAUTH_CLIENT_ID="${GPTAUTH_CLIENT_ID:-}" GPTAUTH_LOG="$var/logs" \
        setsid spawn-fcgi -n -s "$socket" -M 0660 \
        -- /usr/bin/multiwatch -f "$processes" -t 1000 -r 10 -- "$bin/$endpoint" \
        < /dev/null > /dev/null 2>> "$var/logs/supervisor.log" 9>&- &
    pid=$!
    echo "$pid" > "$pid_file"
    for _ in $(seq 1 100); do
        alive "$pid" || return 1
        [ -S "$socket" ] && [ "$(pool_workers "$pid" | wc -l)" -ge "$processes" ] && return 0
        sleep 0.05
    done
    return 1
}
