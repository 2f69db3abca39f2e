# shellcheck shell=bash
# A throwaway PostgreSQL cluster for learnbot's test suite (bash only).
#
# Sourced (what .ci/run does, and the easy way for a developer):
#     source .ci/pg.sh && pg_start    # starts a cluster, exports DATABASE_URL
#     .venv/bin/python -m pytest      # every test now runs against PostgreSQL
#     pg_stop                         # stops the cluster and deletes its directory
#
# Run as a script (the cluster outlives the command; the output is eval-able):
#     eval "$(bash .ci/pg.sh start)"  # exports DATABASE_URL and PG_CI_DIR
#     bash .ci/pg.sh stop "$PG_CI_DIR"
#
# The cluster lives in a fresh `mktemp -d` directory: data in DIR/data, the server
# log in DIR/server.log, the unix socket in DIR. It listens on 127.0.0.1 only, on a
# free port, with trust auth for user postgres, and with durability switched off
# (fsync, synchronous_commit, full_page_writes) because it is thrown away.
#
# Binaries: $PG_BIN if set, else initdb/pg_ctl on PATH, else /usr/lib/postgresql/15/bin,
# else the newest /usr/lib/postgresql/*/bin. PostgreSQL refuses to run as root, so as
# root the cluster belongs to, and runs as, the `postgres` user (via runuser).
#
# Sourcing this file only defines functions; it changes no shell options.

PG_CI_DBNAME=${PG_CI_DBNAME:-learnbot_test}
_PG_CI_MARKER=.learnbot-pg-ci

_pg_log() { printf '[pg] %s\n' "$*" >&2; }

# Is DIR holding initdb, pg_ctl and postgres?
_pg_is_bindir() { [[ -x $1/initdb && -x $1/pg_ctl && -x $1/postgres ]]; }

# Print the directory holding initdb/pg_ctl, or fail.
pg_find_bin() {
    local dir
    if [[ -n ${PG_BIN:-} ]]; then
        if _pg_is_bindir "$PG_BIN"; then
            printf '%s\n' "$PG_BIN"
            return 0
        fi
        _pg_log "PG_BIN=$PG_BIN does not hold initdb, pg_ctl and postgres"
        return 1
    fi
    if dir=$(command -v initdb 2>/dev/null) && command -v pg_ctl >/dev/null 2>&1; then
        dir=$(dirname -- "$(readlink -f -- "$dir")")
        if _pg_is_bindir "$dir"; then
            printf '%s\n' "$dir"
            return 0
        fi
    fi
    if _pg_is_bindir /usr/lib/postgresql/15/bin; then
        printf '%s\n' /usr/lib/postgresql/15/bin
        return 0
    fi
    while IFS= read -r dir; do
        if _pg_is_bindir "$dir"; then
            printf '%s\n' "$dir"
            return 0
        fi
    done < <(compgen -G '/usr/lib/postgresql/*/bin' | sort -V -r)
    return 1
}

# Run a command in DIR as the cluster's owner (DIR's owner when we are root).
_pg_as_owner() {
    local dir=$1
    shift
    if ((EUID == 0)); then
        (cd -- "$dir" && runuser -u "$(stat -c %U -- "$dir")" -- "$@")
    else
        (cd -- "$dir" && "$@")
    fi
}

# A TCP port nobody is listening on right now.
_pg_free_port() {
    "${PYTHON:-python3}" - <<'EOF'
import socket

with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    print(s.getsockname()[1])
EOF
}

# Make the cluster directory, owned by whoever will run the server.
_pg_make_dir() {
    local dir base
    for base in "${TMPDIR:-/tmp}" /tmp; do
        dir=$(mktemp -d "$base/learnbot-pg.XXXXXX") || continue
        : >"$dir/$_PG_CI_MARKER"
        if ((EUID == 0)); then
            chown postgres: "$dir" || { rm -rf -- "$dir"; return 1; }
            # The postgres user must be able to reach the directory, and the socket
            # path (DIR/.s.PGSQL.PORT) must fit in a sockaddr_un.
            if runuser -u postgres -- test -w "$dir" && ((${#dir} < 80)); then
                printf '%s\n' "$dir"
                return 0
            fi
        elif ((${#dir} < 80)); then
            printf '%s\n' "$dir"
            return 0
        fi
        rm -rf -- "$dir"
    done
    _pg_log "could not make a directory the server can use (tried \$TMPDIR and /tmp)"
    return 1
}

# Print the settings for this shell, as export lines.
_pg_print_env() {
    printf 'export DATABASE_URL=%q\nexport PG_CI_DIR=%q\n' "${DATABASE_URL:-}" "$PG_CI_DIR"
}

# Start a throwaway cluster with an empty database $PG_CI_DBNAME; export
# DATABASE_URL, PG_CI_DIR and PG_CI_PORT, and print them as export lines.
pg_start() {
    if [[ -n ${PG_CI_DIR:-} && -f $PG_CI_DIR/data/postmaster.pid ]]; then
        _pg_log "a cluster is already running in $PG_CI_DIR (pg_stop stops it)"
        _pg_print_env
        return 0
    fi
    local bin dir port attempt started=0
    if ! bin=$(pg_find_bin); then
        _pg_log "initdb/pg_ctl not found (set PG_BIN to PostgreSQL's bin directory)"
        return 1
    fi
    if ((EUID == 0)); then
        if ! id -u postgres >/dev/null 2>&1; then
            _pg_log "running as root but there is no postgres user to run the server as"
            return 1
        fi
        if ! command -v runuser >/dev/null 2>&1; then
            _pg_log "running as root but runuser (util-linux) is missing"
            return 1
        fi
    fi
    dir=$(_pg_make_dir) || return 1
    # Exported at once so that a caller's EXIT trap (pg_stop) cleans up even if we fail.
    export PG_CI_DIR=$dir
    printf '%s\n' "$bin" >"$dir/bindir"
    _pg_log "$("$bin/postgres" --version) in $dir"

    if ! _pg_as_owner "$dir" "$bin/initdb" -D "$dir/data" -A trust -U postgres --no-sync \
        -E UTF8 --locale=C >"$dir/initdb.log" 2>&1; then
        _pg_log "initdb failed:"
        cat -- "$dir/initdb.log" >&2
        pg_stop "$dir"
        return 1
    fi
    cat >>"$dir/data/postgresql.conf" <<EOF

# --- added by learnbot .ci/pg.sh: a throwaway test cluster ---
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
EOF

    # The port is free when picked but could be taken before the server binds it.
    for attempt in 1 2 3; do
        port=$(_pg_free_port) || break
        if _pg_as_owner "$dir" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" \
            -o "-p $port" -w -t 60 start >/dev/null; then
            started=1
            break
        fi
        if ((attempt < 3)) && grep -qE 'could not (bind|create listen)' "$dir/server.log"; then
            _pg_log "port $port was taken; trying another"
            mv -f -- "$dir/server.log" "$dir/server.log.$attempt"
            continue
        fi
        break
    done
    if ((!started)); then
        _pg_log "the server did not start; last lines of $dir/server.log:"
        tail -n 40 -- "$dir/server.log" >&2 2>/dev/null || true
        pg_stop "$dir"
        return 1
    fi
    if ! "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres "$PG_CI_DBNAME"; then
        _pg_log "createdb $PG_CI_DBNAME failed"
        pg_stop "$dir"
        return 1
    fi
    export PG_CI_PORT=$port
    export DATABASE_URL="postgresql://postgres@127.0.0.1:$port/$PG_CI_DBNAME"
    printf '%s\n' "$DATABASE_URL" >"$dir/url"
    _pg_log "ready on 127.0.0.1:$port (stop it with pg_stop, or: bash .ci/pg.sh stop $dir)"
    _pg_print_env
}

# Stop the cluster in DIR (default $PG_CI_DIR) and delete DIR.
pg_stop() {
    local dir=${1:-${PG_CI_DIR:-}} bin pid pidfile
    if [[ -z $dir ]]; then
        _pg_log "pg_stop: no cluster (give its directory, or set PG_CI_DIR)"
        return 0
    fi
    if [[ ! -e $dir ]]; then
        _pg_log "pg_stop: $dir is already gone"
    elif [[ ! -e $dir/$_PG_CI_MARKER ]]; then
        _pg_log "pg_stop: $dir was not made by pg_start; leaving it alone"
        return 1
    else
        pidfile=$dir/data/postmaster.pid
        if [[ -f $pidfile ]]; then
            bin=$(cat -- "$dir/bindir" 2>/dev/null) || bin=$(pg_find_bin) || bin=
            if [[ -n $bin ]]; then
                _pg_as_owner "$dir" "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop \
                    >/dev/null 2>&1 ||
                    _pg_as_owner "$dir" "$bin/pg_ctl" -D "$dir/data" -m immediate -w -t 30 stop \
                        >/dev/null 2>&1 || true
            fi
            # Last resort: the postmaster is still there (the pid file is still there).
            if [[ -f $pidfile ]]; then
                pid=$(head -n 1 -- "$pidfile" 2>/dev/null) || pid=
                if [[ $pid =~ ^[0-9]+$ && $(cat "/proc/$pid/comm" 2>/dev/null) == postgres ]]; then
                    _pg_log "pg_ctl stop failed; killing postmaster $pid"
                    kill -KILL "$pid" 2>/dev/null || true
                    sleep 1
                fi
            fi
        fi
        rm -rf -- "$dir"
        _pg_log "stopped and removed $dir"
    fi
    if [[ $dir == "${PG_CI_DIR:-}" ]]; then
        if [[ ${DATABASE_URL:-} == "postgresql://postgres@127.0.0.1:${PG_CI_PORT:-}/"* ]]; then
            unset DATABASE_URL
        fi
        unset PG_CI_DIR PG_CI_PORT
    fi
    return 0
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
    set -euo pipefail
    case ${1:-} in
    start) pg_start ;;
    stop) pg_stop "${2:-}" ;;
    *)
        echo "usage: bash .ci/pg.sh start            # prints export lines; eval them" >&2
        echo "       bash .ci/pg.sh stop DIR         # DIR = the PG_CI_DIR printed by start" >&2
        echo "   or: source .ci/pg.sh && pg_start ... pg_stop" >&2
        exit 2
        ;;
    esac
fi
