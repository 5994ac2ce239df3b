#!/usr/bin/env bash
# bench/run.sh: wrk against wasp and against nginx, same files, same machine,
# one run.  Called by `make bench` after the build; see bench/README.md.
#
#   BENCH_SECONDS      length of each measured wrk run        (default 10)
#   BENCH_CONNECTIONS  wrk -c                                 (default 64)
#   BENCH_THREADS      wrk -t                                 (default 2)
#   BENCH_TARGETS      which servers to run: "wasp nginx", "wasp" or "nginx"
#   WASP_BUILD         build directory of wasp                (default ./build)
#   NGINX              nginx binary                           (default /usr/sbin/nginx)
#   PHP_CGI, PHP_FPM   PHP binaries (default /usr/bin/php-cgi, /usr/sbin/php-fpm*)
#   PHP_PROCS          PHP processes on each side             (default: CPUs x 2)
#   BENCH_IDLE_CONNS   idle keep-alive connections held for the
#                      memory comparison                      (default 10000)
#
# Prints the table and writes it to bench/results/latest.txt; the raw wrk
# outputs go to bench/results/latest-wrk.txt.  Exit status: 0 = all runs clean,
# 1 = set-up or correctness check failed (nothing measured), 2 = measured, but
# some run had errors (socket errors, non-2xx answers, a crashed server): the
# table marks those runs with '!' and the notes below it say what happened.
# shellcheck disable=SC2317  # cleanup and its helpers run from the EXIT trap
set -u

SECONDS_EACH=${BENCH_SECONDS:-10}
CONNS=${BENCH_CONNECTIONS:-64}
THREADS=${BENCH_THREADS:-2}
TARGETS=${BENCH_TARGETS:-wasp nginx}

BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
BUILD=${WASP_BUILD:-$ROOT/build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
NGINX=${NGINX:-/usr/sbin/nginx}
PHP_CGI=${PHP_CGI:-/usr/bin/php-cgi}
PHP_FPM=${PHP_FPM:-$(ls /usr/sbin/php-fpm* 2>/dev/null | head -n 1)}
FPM_PID=""
RESULTS=$BENCH_DIR/results

WASP_PID=""
NGINX_PID=""
TMP=""
PROBLEMS=0

die() {
    echo "bench: ERROR: $*" >&2
    exit 1
}
note() { echo "bench: $*" >&2; }

has_target() { case " $TARGETS " in *" $1 "*) return 0 ;; esac; return 1; }

# ---------------------------------------------------------------- clean-up --

# All descendants of a pid (children first listed after their parent).
descendants() {
    local c
    for c in $(ps -o pid= --ppid "$1" 2>/dev/null); do
        echo "$c"
        descendants "$c"
    done
}

# SIGTERM, wait up to 10 s, then SIGKILL; the same for any descendant left
# behind (waspd's listener and workers, nginx's workers).
stop_pid() {
    local pid=$1 name=$2 kids i
    [ -n "$pid" ] || return 0
    kill -0 "$pid" 2>/dev/null || return 0
    kids=$(descendants "$pid")
    kill -TERM "$pid" 2>/dev/null
    for i in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        note "$name (pid $pid) still running 10 s after SIGTERM: SIGKILL"
        kill -KILL "$pid" 2>/dev/null
    fi
    wait "$pid" 2>/dev/null
    for i in $kids; do
        if kill -0 "$i" 2>/dev/null; then
            sleep 1
            if kill -0 "$i" 2>/dev/null; then
                note "$name child pid $i survived its parent: SIGKILL"
                kill -KILL "$i" 2>/dev/null
            fi
        fi
    done
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop_pid "$WASP_PID" waspd
    stop_pid "$NGINX_PID" nginx
    stop_pid "$FPM_PID" php-fpm
    # Keep the servers' logs (the temp dir goes away).
    if [ -n "$TMP" ] && [ -d "$RESULTS" ]; then
        [ -f "$TMP/wasp.log" ] && cp "$TMP/wasp.log" "$RESULTS/latest-wasp.log"
        [ -f "$TMP/nginx/error.log" ] && cp "$TMP/nginx/error.log" "$RESULTS/latest-nginx-error.log"
    fi
    [ -n "$TMP" ] && [ -d "$TMP" ] && rm -rf "$TMP"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ------------------------------------------------------------------ checks --

command -v wrk >/dev/null || die "wrk not found (scripts/deps.sh bench installs it)"
command -v curl >/dev/null || die "curl not found"
command -v h2load >/dev/null || die "h2load not found (scripts/deps.sh bench installs nghttp2-client)"
command -v openssl >/dev/null || die "openssl not found"
case $SECONDS_EACH in '' | *[!0-9]*) die "BENCH_SECONDS must be a whole number" ;; esac
case $CONNS in '' | *[!0-9]*) die "BENCH_CONNECTIONS must be a whole number" ;; esac
case $THREADS in '' | *[!0-9]*) die "BENCH_THREADS must be a whole number" ;; esac
[ "$CONNS" -ge "$THREADS" ] || die "BENCH_CONNECTIONS ($CONNS) must be >= BENCH_THREADS ($THREADS)"
if has_target wasp; then
    [ -x "$BUILD/waspd" ] || die "$BUILD/waspd not built (run make first)"
    [ -f "$BUILD/tests/wasp_test_module.so" ] || die "$BUILD/tests/wasp_test_module.so not built"
fi
if has_target nginx; then
    [ -x "$NGINX" ] || die "$NGINX not found (scripts/deps.sh bench installs nginx-light)"
fi

CPUS=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo "?")

# ------------------------------------------------------------ test content --

mkdir -p "$RESULTS" || die "cannot create $RESULTS"
[ -f "$RESULTS/.gitignore" ] || printf '*\n!.gitignore\n' >"$RESULTS/.gitignore"
RAW=$RESULTS/latest-wrk.txt
: >"$RAW"
rm -f "$RESULTS/latest-wasp.log" "$RESULTS/latest-nginx-error.log"

# Readable by everybody: started as root, waspd runs its listener and workers
# as unprivileged system users.
umask 022
TMP=$(mktemp -d "${TMPDIR:-/tmp}/wasp-bench.XXXXXX") || die "mktemp failed"
chmod 755 "$TMP"
WWW=$TMP/wwwroot
mkdir -p "$WWW" "$TMP/nginx" "$TMP/run"
printf 'hello world' >"$WWW/small.txt"                            # 11 bytes
printf 'hello world' >"$WWW/small.nc"   # the same, with kernel caching disabled (.nc profile)
printf '<?php echo "hello world";\n' >"$WWW/hello.php"            # PHP hello world
PHP_PROCS=${PHP_PROCS:-$(($(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2) * 2))}
HAVE_PHP=0
[ -x "$PHP_CGI" ] && [ -n "$PHP_FPM" ] && [ -x "$PHP_FPM" ] && HAVE_PHP=1
head -c 1048576 /dev/urandom >"$WWW/big.bin" || die "cannot write 1 MiB file"
SMALL_LEN=11
BIG_LEN=1048576

# One self-signed certificate for both servers' TLS ports: wasp reads it
# from its certificate store (bound with waspctl add sslcert), nginx from
# the same PEM files.
mkdir -p "$TMP/certs/My"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=localhost \
    -days 2 -keyout "$TMP/tls.key" -out "$TMP/tls.crt" >/dev/null 2>&1 || die "openssl cannot make a certificate"
cat "$TMP/tls.crt" "$TMP/tls.key" >"$TMP/certs/My/bench.pem"
CERT_HASH=$(openssl x509 -in "$TMP/tls.crt" -noout -fingerprint -sha1 | sed 's/.*=//; s/://g')

# Ports for the two servers: free, and below the kernel's ephemeral range so
# that wrk's (and everybody else's) client sockets cannot be holding them.
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
EPH_LO=$(awk '{ print $1 }' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null)
case $EPH_LO in '' | *[!0-9]*) EPH_LO=32768 ;; esac
if [ "$EPH_LO" -gt 12000 ]; then PORT_LO=10000 PORT_N=$((EPH_LO - 10000)); else PORT_LO=61000 PORT_N=4000; fi
USED_PORTS=" "
free_port() { # -> FREE_PORT
    local p i
    for i in $(seq 1 200); do
        p=$((PORT_LO + RANDOM % PORT_N))
        case $USED_PORTS in *" $p "*) continue ;; esac
        port_in_use "$p" && continue
        USED_PORTS="$USED_PORTS$p "
        FREE_PORT=$p
        return 0
    done
    return 1
}

# The worker echo case: TestModule answers with method, URL and request
# headers.  wrk sends only a Host header, so the body is exactly this; nginx
# returns the same bytes from `return 200`.  Set once wasp's port is known.
ECHO_PATH="/x.wtest?op=echo"
set_echo_body() {
    ECHO_BODY=$(printf 'method=GET\nurl=%s\nheader=Host: 127.0.0.1:%s\nbody-length=0\nbody=' "$ECHO_PATH" "$1")
    ECHO_LEN=${#ECHO_BODY}
    # As an nginx string: escape \ and ", newlines as \n.
    ECHO_NGINX=$(printf '%s' "$ECHO_BODY" |
        awk 'BEGIN { ORS = "" } { gsub(/\\/, "\\\\"); gsub(/"/, "\\\""); if (NR > 1) print "\\n"; print }')
    printf '%s' "$ECHO_BODY" >"$TMP/echo.expected"
}

# ------------------------------------------------------------------ curl ---

# check NAME URL EXPECTED_LEN [EXPECTED_FILE] [curl args...]: status 200 and
# the right body, or die.
check() {
    local name=$1 url=$2 len=$3 file=$4 got code size
    shift 4
    got=$(curl -s -S --max-time 10 -o "$TMP/body" -w '%{http_code} %{size_download}' "$@" "$url" 2>&1) ||
        die "$name: curl $url failed: $got"
    code=${got%% *}
    size=${got##* }
    [ "$code" = 200 ] || die "$name: $url answered $code, expected 200; body: $(head -c 400 "$TMP/body")"
    [ "$size" = "$len" ] || die "$name: $url sent $size bytes of body, expected $len"
    if [ -n "$file" ]; then
        cmp -s "$TMP/body" "$file" || die "$name: $url body differs from $file"
    fi
}

# wait_port NAME PID PORT LOG: 0 once the server answers (within 10 s);
# 2 if it exited because the port was taken after all (try another); else die.
wait_port() {
    local name=$1 pid=$2 port=$3 log=$4 i
    for i in $(seq 1 100); do
        if ! kill -0 "$pid" 2>/dev/null; then
            wait "$pid" 2>/dev/null
            if grep -qi "address already in use" "$log"; then
                note "$name: 127.0.0.1:$port was taken meanwhile, trying another port"
                return 2
            fi
            echo "----- $log" >&2
            tail -n 30 "$log" >&2
            die "$name exited during start-up"
        fi
        curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/small.txt" && return 0
        sleep 0.1
    done
    echo "----- $log" >&2
    tail -n 30 "$log" >&2
    die "$name does not answer on 127.0.0.1:$port after 10 s"
}

# ------------------------------------------------------------------- nginx --

write_nginx_conf() {
    local user_line=""
    # Run as the current user.  As root nginx would switch its workers to
    # "nobody"; keep them as root instead (no privileges matter here).
    if [ "$(id -u)" = 0 ]; then
        user_line="user $(id -un) $(id -gn);"
    fi
    cat >"$TMP/nginx/nginx.conf" <<EOF
# generated by wasp bench/run.sh
$user_line
worker_processes auto;
worker_rlimit_nofile 20000;
daemon off;
master_process on;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log warn;

events {
    worker_connections 10240; # the idle keep-alive case holds 10,000
}

http {
    access_log $TMP/nginx/access.log combined buffer=64k flush=1s;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_requests 100000;
    keepalive_timeout 120s;
    server_tokens off;

    client_body_temp_path $TMP/nginx/client_body;
    proxy_temp_path $TMP/nginx/proxy;
    fastcgi_temp_path $TMP/nginx/fastcgi;
    uwsgi_temp_path $TMP/nginx/uwsgi;
    scgi_temp_path $TMP/nginx/scgi;

    types {
        text/plain txt;
        application/octet-stream bin;
    }
    default_type application/octet-stream;

    server {
        listen 127.0.0.1:$NPORT;
        listen 127.0.0.1:$NSPORT ssl http2;
        ssl_certificate $TMP/tls.crt;
        ssl_certificate_key $TMP/tls.key;
        ssl_protocols TLSv1.3;
        server_name localhost;
        root $WWW;

        location = /x.wtest {
            default_type "text/plain; charset=utf-8";
            return 200 "$ECHO_NGINX";
        }

        location ~ \.php$ {
            fastcgi_pass unix:$TMP/php-fpm.sock;
            fastcgi_keep_conn on;
            fastcgi_param SCRIPT_FILENAME \$document_root\$fastcgi_script_name;
            fastcgi_param SCRIPT_NAME \$fastcgi_script_name;
            fastcgi_param REQUEST_METHOD \$request_method;
            fastcgi_param QUERY_STRING \$query_string;
            fastcgi_param CONTENT_TYPE \$content_type;
            fastcgi_param CONTENT_LENGTH \$content_length;
            fastcgi_param REQUEST_URI \$request_uri;
            fastcgi_param SERVER_PROTOCOL \$server_protocol;
            fastcgi_param GATEWAY_INTERFACE CGI/1.1;
            fastcgi_param REMOTE_ADDR \$remote_addr;
            fastcgi_param REMOTE_PORT \$remote_port;
            fastcgi_param SERVER_ADDR \$server_addr;
            fastcgi_param SERVER_PORT \$server_port;
            fastcgi_param SERVER_NAME \$server_name;
        }
    }
}
EOF
    "$NGINX" -t -q -p "$TMP/nginx/" -e "$TMP/nginx/error.log" -c "$TMP/nginx/nginx.conf" \
        2>"$TMP/nginx/configtest.log" || {
        cat "$TMP/nginx/configtest.log" >&2
        die "nginx rejects the generated $TMP/nginx/nginx.conf"
    }
}

# php-fpm for nginx: as many PHP processes as wasp gets (pm = static), no
# recycling (pm.max_requests 0; wasp's instanceMaxRequests is set high too).
start_php_fpm() {
    local user_line=""
    [ "$(id -u)" = 0 ] && user_line="user = $(id -un)"
    printf '[global]\npid = %s\nerror_log = %s\ndaemonize = no\n[bench]\n%s\nlisten = %s\npm = static\npm.max_children = %s\npm.max_requests = 0\n' \
        "$TMP/php-fpm.pid" "$TMP/php-fpm.log" "$user_line" "$TMP/php-fpm.sock" "$PHP_PROCS" \
        >"$TMP/php-fpm.conf"
    "$PHP_FPM" -R -y "$TMP/php-fpm.conf" -F >"$TMP/php-fpm.out" 2>&1 &
    FPM_PID=$!
    for _ in $(seq 1 50); do
        [ -S "$TMP/php-fpm.sock" ] && return 0
        sleep 0.1
    done
    die "php-fpm did not start: $(tail -n 5 "$TMP/php-fpm.out" "$TMP/php-fpm.log" 2>/dev/null)"
}

start_nginx() {
    local rc
    for _ in 1 2 3 4 5; do
        free_port || die "no free port found"
        NPORT=$FREE_PORT
        free_port || die "no free port found"
        NSPORT=$FREE_PORT
        write_nginx_conf
        : >"$TMP/nginx/error.log"
        "$NGINX" -p "$TMP/nginx/" -e "$TMP/nginx/error.log" -c "$TMP/nginx/nginx.conf" \
            >"$TMP/nginx/stdout.log" 2>"$TMP/nginx/stderr.log" &
        NGINX_PID=$!
        wait_port nginx "$NGINX_PID" "$NPORT" "$TMP/nginx/error.log"
        rc=$?
        [ "$rc" = 0 ] && return 0
        NGINX_PID=""
    done
    die "nginx: no free port after 5 attempts"
}

# -------------------------------------------------------------------- wasp --

write_wasp_conf() {
    cat >"$1" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<!-- generated by wasp bench/run.sh: one site on 127.0.0.1:$WPORT serving $WWW -->
<configuration>
    <system.applicationHost>
        <applicationPools>
            <add name="DefaultAppPool" />
        </applicationPools>
        <sites>
            <site name="Bench" id="1">
                <application path="/">
                    <virtualDirectory path="/" physicalPath="$WWW" />
                </application>
                <bindings>
                    <binding protocol="http" bindingInformation="127.0.0.1:$WPORT:" />
                    <binding protocol="https" bindingInformation="127.0.0.1:$WSPORT:" />
                </bindings>
            </site>
            <applicationDefaults applicationPool="DefaultAppPool" />
        </sites>
    </system.applicationHost>
    <system.webServer>
        <globalModules>
            <add name="DefaultDocumentModule" image="builtin" />
            <add name="DirectoryListingModule" image="builtin" />
            <add name="StaticFileModule" image="builtin" />
            <add name="CustomErrorModule" image="builtin" />
            <add name="FastCgiModule" image="builtin" />
            <add name="TestModule" image="$BUILD/tests/wasp_test_module.so" />
        </globalModules>
        <fastCgi>
            <application fullPath="$PHP_CGI" maxInstances="$PHP_PROCS" instanceMaxRequests="10000000" />
        </fastCgi>
        <modules>
            <add name="DefaultDocumentModule" />
            <add name="DirectoryListingModule" />
            <add name="StaticFileModule" />
            <add name="CustomErrorModule" />
            <add name="FastCgiModule" />
            <add name="TestModule" />
        </modules>
        <handlers accessPolicy="Read, Script">
            <add name="TestHandler" path="*.wtest" verb="*" modules="TestModule" resourceType="Unspecified" requireAccess="None" />
            <add name="PHP_via_FastCGI" path="*.php" verb="GET,HEAD,POST" modules="FastCgiModule" scriptProcessor="$PHP_CGI" resourceType="Either" requireAccess="Script" />
            <add name="StaticFile" path="*" verb="*" modules="StaticFileModule,DefaultDocumentModule,DirectoryListingModule" resourceType="Either" requireAccess="Read" />
        </handlers>
        <staticContent>
            <mimeMap fileExtension=".txt" mimeType="text/plain" />
            <mimeMap fileExtension=".bin" mimeType="application/octet-stream" />
            <mimeMap fileExtension=".nc" mimeType="text/plain" />
        </staticContent>
        <caching>
            <profiles>
                <add extension=".nc" kernelCachePolicy="DisableCache" />
            </profiles>
        </caching>
    </system.webServer>
</configuration>
EOF
}

start_wasp() {
    local cfg=$TMP/applicationHost.config rc
    for _ in 1 2 3 4 5; do
        free_port || die "no free port found"
        WPORT=$FREE_PORT
        free_port || die "no free port found"
        WSPORT=$FREE_PORT
        write_wasp_conf "$cfg"
        "$BUILD/waspctl" --cert-store "$TMP/certs" --runtime-dir /nonexistent add sslcert \
            "ipport=0.0.0.0:$WSPORT" "certhash=$CERT_HASH" certstorename=My >/dev/null ||
            die "waspctl add sslcert failed"
        "$BUILD/waspd" --config "$cfg" --runtime-dir "$TMP/run" --cert-store "$TMP/certs" \
            >"$TMP/wasp.log" 2>&1 &
        WASP_PID=$!
        wait_port waspd "$WASP_PID" "$WPORT" "$TMP/wasp.log"
        rc=$?
        [ "$rc" = 0 ] && return 0
        WASP_PID=""
    done
    die "waspd: no free port after 5 attempts"
}

wasp_worker_pid() {
    curl -s --max-time 10 "http://127.0.0.1:$WPORT/x.wtest?op=whoami" 2>/dev/null |
        awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^pid=/) print substr($i, 5) }'
}

# --------------------------------------------------------------------- wrk --


# Result of one run, by key "<case>_<target>": RPS, transfer/s, problem text.
declare -A RPS XFER ERR

# measure CASE TARGET URL [wrk args...]
measure() {
    local cas=$1 target=$2 url=$3 out rc rps xfer non2xx sock
    shift 3
    # Warm-up (discarded): connections, caches, the wasp worker.
    wrk -t"$THREADS" -c"$CONNS" -d1s "$@" "$url" >/dev/null 2>&1
    out=$(wrk -t"$THREADS" -c"$CONNS" -d"${SECONDS_EACH}s" "$@" "$url" 2>&1)
    rc=$?
    {
        printf '===== %s / %s: wrk -t%s -c%s -d%ss' "$cas" "$target" "$THREADS" "$CONNS" "$SECONDS_EACH"
        [ $# = 0 ] || printf " '%s'" "$@"
        echo " $url (exit $rc)"
        echo "$out"
        echo
    } >>"$RAW"
    rps=$(echo "$out" | awk '/^Requests\/sec:/ { print $2 }')
    xfer=$(echo "$out" | awk '/^Transfer\/sec:/ { print $2 }')
    non2xx=$(echo "$out" | awk '/Non-2xx or 3xx responses:/ { print $NF }')
    sock=$(echo "$out" | awk '/Socket errors:/ { sub(/^ *Socket errors: */, ""); print }')
    RPS[${cas}_$target]=${rps:-0}
    XFER[${cas}_$target]=${xfer:--}
    local prob=""
    [ "$rc" = 0 ] || prob="$prob wrk exited $rc;"
    [ -n "$rps" ] || prob="$prob no Requests/sec in wrk output;"
    [ -n "$non2xx" ] && prob="$prob $non2xx non-2xx/3xx answers;"
    [ -n "$sock" ] && prob="$prob socket errors: $sock;"
    settle "$cas" "$target" "$prob" "$out"
}

# settle CASE TARGET PROBLEMS OUTPUT: a measured case's verdict: the server
# must still be alive; any problem is kept for the table (ERR) and shown
# with the tool's output.
settle() {
    local cas=$1 target=$2 prob=$3 out=$4 pid line
    if [ "$target" = wasp ]; then pid=$WASP_PID; else pid=$NGINX_PID; fi
    kill -0 "$pid" 2>/dev/null || prob="$prob $target (pid $pid) is gone;"
    ERR[${cas}_$target]=$prob
    if [ -n "$prob" ]; then
        PROBLEMS=1
        note "$cas / $target:$prob"
        while IFS= read -r line; do printf '    %s\n' "$line"; done <<<"$out" >&2
    fi
}

# ---------------------------------------- effective-config lookup (issue 4) --
# Not a comparison with nginx: the configuration's share of a request, timed
# in-process by bench/config_lookup (see its header comment) for a 10-level
# deep path, cold (every level built, web.config files read and parsed) and
# cached (one hash probe).  Its lines go under the wrk table.
CONFIG_LOOKUP_OUT=""
config_lookup_bench() {
    local bin=$BUILD/bench/config_lookup
    if [ ! -x "$bin" ]; then
        CONFIG_LOOKUP_OUT="! effective-config lookup: $bin not built"
        PROBLEMS=1
        return
    fi
    note "effective configuration lookup (in-process, no network)"
    if ! CONFIG_LOOKUP_OUT=$("$bin" 200000 2>&1); then
        CONFIG_LOOKUP_OUT="! effective-config lookup failed: $CONFIG_LOOKUP_OUT"
        PROBLEMS=1
    fi
}
# ------------------------------------ end of effective-config lookup block --
# cache_counter NAME: one counter of wasp's response cache (Web Service
# Cache), from the control socket's "counters" answer (ctl_proto.h).
cache_counter() {
    /usr/bin/python3 - "$TMP/run/control.sock" <<'PYEOF' | awk -F'\t' -v k="$1" '$1 == "cache" { for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] == k) print kv[2] } }'
import socket, sys
sk = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
sk.settimeout(60)
sk.connect(sys.argv[1])
sk.send(b"counters")
while True:
    d = sk.recv(70000)
    if not d or d[:1] == b"D":
        break
    if d[:1] == b"O":
        sys.stdout.write(d[1:].decode())
PYEOF
}

# measure_h2 CASE TARGET URL: h2load over TLS (ALPN h2), 16 connections of
# 10 concurrent streams each, for BENCH_SECONDS after a 1 s warm-up.
measure_h2() {
    local cas=$1 target=$2 url=$3 out rc rps done ok non2xx prob=""
    out=$(h2load -c 16 -m 10 -t "$THREADS" --warm-up-time=1 -D "$SECONDS_EACH" "$url" 2>&1)
    rc=$?
    {
        echo "===== $cas / $target: h2load -c 16 -m 10 -t $THREADS --warm-up-time=1 -D $SECONDS_EACH $url (exit $rc)"
        echo "$out"
        echo
    } >>"$RAW"
    rps=$(echo "$out" | awk '/^finished in/ { for (i = 1; i <= NF; i++) if ($i ~ /^req\/s/) { v = $(i - 1); gsub(/,/, "", v); print v } }')
    done=$(echo "$out" | awk '/^requests:/ { print $6 }')
    ok=$(echo "$out" | awk '/^requests:/ { print $8 }')
    non2xx=$(echo "$out" | awk '/^status codes:/ { gsub(/,/, ""); print $5 + $7 + $9 }')
    RPS[${cas}_$target]=${rps:-0}
    XFER[${cas}_$target]=-
    [ "$rc" = 0 ] || prob="$prob h2load exited $rc;"
    [ -n "$rps" ] || prob="$prob no req/s in h2load output;"
    [ -n "$done" ] && [ "$done" != "$ok" ] && prob="$prob $((done - ok)) of $done requests failed;"
    [ -n "$non2xx" ] && [ "$non2xx" != 0 ] && prob="$prob $non2xx non-2xx answers;"
    settle "$cas" "$target" "$prob" "$out"
}

# -------------------------------------------------------------------- main --

WPORT=""
WSPORT=""
NPORT=""
NSPORT=""
WORKER_BEFORE=""
CACHE_NOTE=""

if has_target wasp; then
    note "starting wasp"
    start_wasp
    WASP_URL=http://127.0.0.1:$WPORT
    note "wasp: pid $WASP_PID on $WASP_URL"
    set_echo_body "$WPORT"
    check "wasp small" "$WASP_URL/small.txt" "$SMALL_LEN" "$WWW/small.txt"
    check "wasp small, Connection: close" "$WASP_URL/small.txt" "$SMALL_LEN" "$WWW/small.txt" -H "Connection: close"
    check "wasp small, not cached" "$WASP_URL/small.nc" "$SMALL_LEN" "$WWW/small.nc"
    check "wasp 1 MiB" "$WASP_URL/big.bin" "$BIG_LEN" "$WWW/big.bin"
    check "wasp https small" "https://127.0.0.1:$WSPORT/small.txt" "$SMALL_LEN" "$WWW/small.txt" -k --http1.1
    check "wasp h2 small" "https://127.0.0.1:$WSPORT/small.txt" "$SMALL_LEN" "$WWW/small.txt" -k --http2
    # Only a Host header, like wrk: the echo body is then exactly ECHO_BODY.
    check "wasp worker echo" "$WASP_URL$ECHO_PATH" "$ECHO_LEN" "$TMP/echo.expected" -H "User-Agent:" -H "Accept:"
    [ "$HAVE_PHP" = 1 ] && check "wasp php" "$WASP_URL/hello.php" 11 ""
    WORKER_BEFORE=$(wasp_worker_pid)
    [ -n "$WORKER_BEFORE" ] || die "wasp: /x.wtest?op=whoami gave no worker pid"
else
    set_echo_body 10000 # any 5-digit port: same length as nginx's Host header
fi

if has_target nginx; then
    note "starting nginx"
    [ "$HAVE_PHP" = 1 ] && start_php_fpm
    start_nginx
    NGINX_URL=http://127.0.0.1:$NPORT
    note "nginx: pid $NGINX_PID on $NGINX_URL"
    check "nginx small" "$NGINX_URL/small.txt" "$SMALL_LEN" "$WWW/small.txt"
    check "nginx small, Connection: close" "$NGINX_URL/small.txt" "$SMALL_LEN" "$WWW/small.txt" -H "Connection: close"
    check "nginx small .nc" "$NGINX_URL/small.nc" "$SMALL_LEN" "$WWW/small.nc"
    check "nginx 1 MiB" "$NGINX_URL/big.bin" "$BIG_LEN" "$WWW/big.bin"
    check "nginx https small" "https://127.0.0.1:$NSPORT/small.txt" "$SMALL_LEN" "$WWW/small.txt" -k --http1.1
    check "nginx h2 small" "https://127.0.0.1:$NSPORT/small.txt" "$SMALL_LEN" "$WWW/small.txt" -k --http2
    check "nginx return 200" "$NGINX_URL$ECHO_PATH" "$ECHO_LEN" "$TMP/echo.expected" -H "User-Agent:" -H "Accept:"
    [ "$HAVE_PHP" = 1 ] && check "nginx php-fpm" "$NGINX_URL/hello.php" 11 ""
fi

note "measuring: $THREADS threads, $CONNS connections, ${SECONDS_EACH} s per run (+1 s warm-up)"
CASES="small nocache big echo close https h2"
[ "$HAVE_PHP" = 1 ] && CASES="$CASES php"
for t in wasp nginx; do
    has_target "$t" || continue
    if [ "$t" = wasp ]; then base=$WASP_URL; else base=$NGINX_URL; fi
    if [ "$t" = wasp ]; then tls_base=https://127.0.0.1:$WSPORT; else tls_base=https://127.0.0.1:$NSPORT; fi
    note "$t: 11 B file, keep-alive (wasp: response cache hits)"
    if [ "$t" = wasp ]; then
        # The warm-up stores the URL; every measured request must then be a
        # hit: the cache's miss counter may not move.
        wrk -t1 -c1 -d1s "$base/small.txt" >/dev/null 2>&1
        misses=$(cache_counter UriCacheMisses)
        hits=$(cache_counter UriCacheHits)
    fi
    measure small "$t" "$base/small.txt"
    if [ "$t" = wasp ]; then
        misses2=$(cache_counter UriCacheMisses)
        hits2=$(cache_counter UriCacheHits)
        CACHE_NOTE="$((hits2 - hits)) hits, $((misses2 - misses)) misses"
        if [ "$misses2" != "$misses" ] || [ "$hits2" = "$hits" ]; then
            ERR[small_wasp]="${ERR[small_wasp]} not all cache hits ($CACHE_NOTE);"
            PROBLEMS=1
        fi
    fi
    note "$t: 11 B file, keep-alive, not kernel-cached (wasp: its worker)"
    measure nocache "$t" "$base/small.nc"
    note "$t: 1 MiB file, keep-alive"
    measure big "$t" "$base/big.bin"
    note "$t: worker echo / return 200"
    measure echo "$t" "$base$ECHO_PATH"
    note "$t: 11 B file, Connection: close"
    measure close "$t" "$base/small.txt" -H "Connection: close"
    note "$t: 11 B file over HTTPS (TLS 1.3), keep-alive"
    measure https "$t" "$tls_base/small.txt"
    note "$t: 11 B file over h2 (TLS), h2load"
    measure_h2 h2 "$t" "$tls_base/small.txt"
    if [ "$HAVE_PHP" = 1 ]; then
        note "$t: PHP hello world, $PHP_PROCS PHP processes"
        measure php "$t" "$base/hello.php"
    fi
done

# ------------------------------------------ memory of idle connections --

IDLE_CONNS=${BENCH_IDLE_CONNS:-10000}
declare -A IDLE_BEFORE IDLE_AFTER IDLE_ERR

# mem_kb PID...: their proportional set size summed, kB (a page shared by
# nginx's master and workers counts once); VmRSS where smaps_rollup is not
# readable.
mem_kb() {
    local total=0 p v
    for p in "$@"; do
        v=$(awk '/^Pss:/ { print $2 }' "/proc/$p/smaps_rollup" 2>/dev/null)
        [ -n "$v" ] || v=$(awk '/^VmRSS:/ { print $2 }' "/proc/$p/status" 2>/dev/null)
        total=$((total + ${v:-0}))
    done
    echo "$total"
}

# server_pids TARGET: what holds the connections.  wasp: its listener
# (wasp-http, the process HTTP.sys stands for); nginx: master and workers.
server_pids() {
    if [ "$1" = wasp ]; then
        ps -o pid=,comm= --ppid "$WASP_PID" | awk '$2 == "wasp-http" { print $1 }'
    else
        echo "$NGINX_PID"
        ps -o pid= --ppid "$NGINX_PID"
    fi
}

# idle_memory TARGET PORT: memory before and while IDLE_CONNS keep-alive
# connections, each after one answered request, sit idle.
idle_memory() {
    local target=$1 port=$2 pids line
    pids=$(server_pids "$target")
    IDLE_BEFORE[$target]=$(mem_kb $pids)
    coproc IDLE { /usr/bin/python3 "$BENCH_DIR/idle_conns.py" "$port" "$IDLE_CONNS" /small.txt 2>&1; }
    if read -t 90 -r line <&"${IDLE[0]}" && [ "$line" = "ready $IDLE_CONNS" ]; then
        sleep 1 # let every connection settle into its idle state
        IDLE_AFTER[$target]=$(mem_kb $(server_pids "$target"))
    else
        IDLE_ERR[$target]="idle connections not established: ${line:-no answer in 90 s}"
        PROBLEMS=1
    fi
    exec {IDLE[1]}>&-
    wait "$IDLE_PID" 2>/dev/null
}

for t in wasp nginx; do
    has_target "$t" || continue
    note "$t: memory with $IDLE_CONNS idle keep-alive connections"
    if [ "$t" = wasp ]; then idle_memory wasp "$WPORT"; else idle_memory nginx "$NPORT"; fi
done

# ------------------------------------------------- wasp's process manager --


# ctl WORD...: one command on waspd's control socket (src/common/ctl_proto.h);
# prints the output, fails unless the answer is status 0.
ctl() {
    /usr/bin/python3 - "$TMP/run/control.sock" "$@" <<'PYEOF'
import socket, sys
sk = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
sk.settimeout(60)
sk.connect(sys.argv[1])
sk.send(b"\0".join(w.encode() for w in sys.argv[2:]))
while True:
    d = sk.recv(70000)
    if not d:
        sys.exit(1)
    if d[:1] == b"O":
        sys.stdout.write(d[1:].decode())
    elif d[:1] == b"D":
        sys.exit(0 if d[1:].split(b" ", 1)[0] == b"0" else 1)
PYEOF
}

COLD_MS=""
RECYCLE_RPS=""
RECYCLES=0
if has_target wasp; then
    # Cold start: the pool is stopped and started again (no worker runs, as
    # after an idle shut-down); the time of the first request is the start
    # of a worker plus the request.  Median of 9.
    note "wasp: cold start (first request to a pool without a worker), 9 times"
    times=""
    for i in 1 2 3 4 5 6 7 8 9; do
        ctl stop-apppool DefaultAppPool >/dev/null || die "wasp: stop-apppool failed"
        ctl start-apppool DefaultAppPool >/dev/null || die "wasp: start-apppool failed"
        t=$(curl -s -o /dev/null --max-time 30 -w '%{time_total}' "$WASP_URL$ECHO_PATH") ||
            die "wasp: cold request failed"
        times="$times $t"
    done
    COLD_MS=$(echo "$times" | tr ' ' '\n' | grep . | sort -n | awk '{ a[NR] = $1 } END { printf "%.1f", a[int((NR + 1) / 2)] * 1000 }')
    # Throughput while the pool recycles every 500 ms (overlapped).
    note "wasp: worker echo while the pool recycles every 0.5 s"
    (
        end=$((SECONDS + SECONDS_EACH))
        n=0
        while [ "$SECONDS" -lt "$end" ]; do
            sleep 0.5
            ctl recycle-apppool DefaultAppPool >/dev/null && n=$((n + 1))
        done
        echo "$n" >"$TMP/recycles"
    ) &
    RECYCLER=$!
    out=$(wrk -t"$THREADS" -c"$CONNS" -d"${SECONDS_EACH}s" "$WASP_URL$ECHO_PATH" 2>&1)
    wait "$RECYCLER"
    RECYCLES=$(cat "$TMP/recycles" 2>/dev/null || echo 0)
    echo "===== recycle under load / wasp: $RECYCLES recycles" >>"$RAW"
    echo "$out" >>"$RAW"
    RECYCLE_RPS=$(echo "$out" | awk '/^Requests\/sec:/ { print $2 }')
    non2xx=$(echo "$out" | awk '/Non-2xx or 3xx responses:/ { print $NF }')
    sock=$(echo "$out" | awk '/Socket errors:/ { sub(/^ *Socket errors: */, ""); print }')
    RECYCLE_ERR=""
    [ -n "$non2xx" ] && RECYCLE_ERR="$RECYCLE_ERR $non2xx non-2xx answers;"
    [ -n "$sock" ] && RECYCLE_ERR="$RECYCLE_ERR socket errors: $sock;"
    [ -n "$RECYCLE_ERR" ] && PROBLEMS=1
    WORKER_BEFORE=$(wasp_worker_pid) # the recycles replaced it, on purpose
fi

WASP_NOTES=""
if has_target wasp; then
    WORKER_AFTER=$(wasp_worker_pid)
    if [ -z "$WORKER_AFTER" ]; then
        WASP_NOTES="$WASP_NOTES wasp no longer answers /x.wtest?op=whoami after the runs;"
    elif [ "$WORKER_AFTER" != "$WORKER_BEFORE" ]; then
        WASP_NOTES="$WASP_NOTES the wasp worker changed during the runs (pid $WORKER_BEFORE -> $WORKER_AFTER: crashed or recycled);"
    fi
    kill -0 "$WASP_PID" 2>/dev/null || WASP_NOTES="$WASP_NOTES waspd (pid $WASP_PID) exited;"
    # The comparison assumes both sides logged (see bench/README.md).
    ls "$TMP"/run/logs/LogFiles/W3SVC1/u_ex*.log >/dev/null 2>&1 ||
        WASP_NOTES="$WASP_NOTES no W3C access log was written under $TMP/run/logs;"
    # Anything above [info] in wasp's log while it ran (shutdown comes later).
    n=$(grep -c '\[\(alert\|error\|warn\)\]' "$TMP/wasp.log")
    [ "$n" -gt 0 ] && WASP_NOTES="$WASP_NOTES $n warn/error/alert line(s) in its log (bench/results/latest-wasp.log);"
    [ -n "$WASP_NOTES" ] && PROBLEMS=1
fi
NGINX_NOTES=""
if has_target nginx; then
    kill -0 "$NGINX_PID" 2>/dev/null || NGINX_NOTES="$NGINX_NOTES nginx (pid $NGINX_PID) exited;"
    n=$(grep -c '\[\(emerg\|alert\|crit\|error\)\]' "$TMP/nginx/error.log")
    [ "$n" -gt 0 ] && NGINX_NOTES="$NGINX_NOTES $n error line(s) in its error.log (bench/results/latest-nginx-error.log);"
    [ -n "$NGINX_NOTES" ] && PROBLEMS=1
fi

config_lookup_bench

# ------------------------------------------------------------------ report --

label() {
    case $1 in
    small) echo "11 B file, cache hit" ;;
    nocache) echo "11 B file, not cached" ;;
    big) echo "1 MiB file, keep-alive" ;;
    echo) echo "worker echo vs return 200" ;;
    close) echo "11 B, no keep-alive, hit" ;;
    https) echo "11 B file, HTTPS keep-alive" ;;
    h2) echo "11 B file, h2 (h2load -m 10)" ;;
    php) echo "PHP hello (php-cgi / php-fpm)" ;;
    esac
}
cell() { # key -> "12345.67" or "12345.67!" or "-"
    local k=$1
    if [ -z "${RPS[$k]+x}" ]; then
        echo "-"
    elif [ -n "${ERR[$k]}" ]; then
        echo "${RPS[$k]}!"
    else
        echo "${RPS[$k]}"
    fi
}

{
    printf 'wasp vs nginx — %s CPUs, wrk %s threads, %s connections, %s s each, %s\n' \
        "$CPUS" "$THREADS" "$CONNS" "$SECONDS_EACH" "$(date +%F)"
    printf '%-28s %14s %14s %7s\n' case "wasp req/s" "nginx req/s" ratio
    for c in $CASES; do
        w=$(cell "${c}_wasp")
        n=$(cell "${c}_nginx")
        r=$(awk -v w="${RPS[${c}_wasp]:-}" -v n="${RPS[${c}_nginx]:-}" \
            'BEGIN { if (w == "" || n == "" || n + 0 == 0) print "-"; else printf "%.2f", w / n }')
        printf '%-28s %14s %14s %7s\n' "$(label "$c")" "$w" "$n" "$r"
    done
    printf '1 MiB transfer/s: wasp %s, nginx %s\n' "${XFER[big_wasp]:--}" "${XFER[big_nginx]:--}"
    idle_line() { # target -> "12.3 MiB (+10.1 MiB for the connections)"
        [ -n "${IDLE_AFTER[$1]:-}" ] || { echo "-"; return; }
        awk -v a="${IDLE_AFTER[$1]}" -v b="${IDLE_BEFORE[$1]}" \
            'BEGIN { printf "%.1f MiB (+%.1f MiB for the connections)", a / 1024, (a - b) / 1024 }'
    }
    printf 'memory with %s idle keep-alive connections: wasp listener %s; nginx %s; ratio %s (target <= 1.00)\n' \
        "$IDLE_CONNS" "$(idle_line wasp)" "$(idle_line nginx)" \
        "$(awk -v w="${IDLE_AFTER[wasp]:-}" -v n="${IDLE_AFTER[nginx]:-}" \
            'BEGIN { if (w == "" || n == "" || n + 0 == 0) print "-"; else printf "%.2f", w / n }')"
    [ -n "$CACHE_NOTE" ] && printf 'wasp response cache during the measured cache-hit run: %s\n' "$CACHE_NOTE"
    if [ -n "$COLD_MS" ]; then
        printf 'wasp cold start (first request to a pool without a worker, median of 9): %s ms\n' "$COLD_MS"
        printf 'wasp worker echo while recycling every 0.5 s (%s recycles): %s req/s = %s of steady%s\n' \
            "$RECYCLES" "${RECYCLE_RPS:-?}" \
            "$(awk -v r="${RECYCLE_RPS:-0}" -v s="${RPS[echo_wasp]:-0}" 'BEGIN { if (s + 0 == 0) print "-"; else printf "%.2f", r / s }')" \
            "${RECYCLE_ERR:+ ! $RECYCLE_ERR}"
    fi
    printf 'nginx %s: access_log buffer=64k flush=1s, sendfile, tcp_nopush, keepalive_requests 100000, worker_processes auto;\n' \
        "$("$NGINX" -v 2>&1 | sed 's/.*nginx\///')"
    printf 'wasp: W3C access log on (IIS'\''s default; cache hits are logged too).  Loopback; wrk runs on the same CPUs as the server.\n'
    for t in wasp nginx; do
        for c in $CASES; do
            k=${c}_$t
            [ -n "${ERR[$k]:-}" ] && printf '! %s, %s:%s\n' "$t" "$(label "$c")" "${ERR[$k]}"
        done
    done
    for t in wasp nginx; do
        [ -n "${IDLE_ERR[$t]:-}" ] && printf '! %s, idle connections: %s\n' "$t" "${IDLE_ERR[$t]}"
    done
    [ -n "$WASP_NOTES" ] && printf '! wasp:%s\n' "$WASP_NOTES"
    [ -n "$NGINX_NOTES" ] && printf '! nginx:%s\n' "$NGINX_NOTES"
    [ -n "$CONFIG_LOOKUP_OUT" ] && printf '%s\n' "$CONFIG_LOOKUP_OUT"
} >"$RESULTS/latest.txt"

# A look at wasp's log when something went wrong.
if [ "$PROBLEMS" = 1 ] && has_target wasp && [ -s "$TMP/wasp.log" ]; then
    {
        echo "----- wasp log: warnings and errors (first 20), then the last 20 lines"
        grep '\[\(alert\|error\|warn\)\]' "$TMP/wasp.log" | head -n 20
        echo "-----"
        tail -n 20 "$TMP/wasp.log"
    } | tee -a "$RAW" >&2
fi

cat "$RESULTS/latest.txt"
echo "(written to ${RESULTS#"$ROOT"/}/latest.txt; raw wrk output in ${RAW#"$ROOT"/})"
[ "$PROBLEMS" = 0 ] || exit 2
exit 0
