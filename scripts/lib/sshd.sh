# Throwaway OpenSSH server (SFTP only) for tests. Source this file, then call `sshd_start` and
# let the EXIT trap call `sshd_stop`.
#
# sshd_start installs openssh-server with apt-get when /usr/sbin/sshd is missing, then runs an
# sshd on 127.0.0.1 on a free port, from a temporary directory (host key, config, log, client
# key), and exports:
#   SSHD_HOST      127.0.0.1
#   SSHD_PORT      the port
#   SSHD_USER      the user to log in as
#   SSHD_PASSWORD  its password (empty when not root: see below)
#   SSHD_KEY       path of an unencrypted ed25519 private key (OpenSSH format) that may log in
#   SSHD_ROOT      absolute path of a fresh directory the user can write to; SFTP sessions also
#                  start there, so relative paths resolve inside it
#   SSHD_HOST_KEY_FINGERPRINT  the server's host key as "SHA256:..." (for pinning tests)
# It returns non-zero with a message on stderr when anything fails.
#
# As root (CI, the dev machines), it logs in as the system user `handbill-sftp`, created on the
# first run (never removed: harmless) with a fresh random password each run, so both password
# and public-key authentication work. As another user, sshd can only let that same user in, and
# cannot check passwords without root: SSHD_USER is then the current user, SSHD_PASSWORD is
# empty and only the key works (and only if that account is not locked in /etc/shadow: sshd
# refuses "!" or "*" passwords even for keys, so e.g. `nobody` cannot be used).
#
# The server only speaks SFTP (ForceCommand internal-sftp): no shell.

sshd_tmp=""
sshd_pid=""
SSHD_SYSTEM_USER=${SSHD_SYSTEM_USER:-handbill-sftp}

sshd_free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# True while PID runs (a zombie, not yet reaped by this shell, counts as gone).
sshd_running() {
    case "$(ps -o stat= -p "$1" 2>/dev/null)" in
        "" | Z*) return 1 ;;
    esac
}

sshd_fail() {
    echo "sshd_start: $*" >&2
    if [ -n "$sshd_tmp" ] && [ -s "$sshd_tmp/sshd.log" ]; then
        echo "--- $sshd_tmp/sshd.log:" >&2
        tail -n 30 "$sshd_tmp/sshd.log" >&2
    fi
    sshd_stop
    return 1
}

sshd_install() {
    [ -x /usr/sbin/sshd ] && return 0
    if [ "$(id -u)" != 0 ]; then
        echo "sshd_start: /usr/sbin/sshd is missing and installing openssh-server needs root" >&2
        return 1
    fi
    # Never let the package start a system-wide sshd on port 22: policy-rc.d exit 101 forbids
    # service starts (Docker images usually ship one already).
    local own_policy=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && own_policy=1
    fi
    local rc=0
    (DEBIAN_FRONTEND=noninteractive apt-get install -y -q openssh-server >/dev/null 2>&1 ||
        { apt-get update -q >/dev/null 2>&1 &&
            DEBIAN_FRONTEND=noninteractive apt-get install -y -q openssh-server >/dev/null; }) || rc=$?
    if [ -n "$own_policy" ]; then rm -f /usr/sbin/policy-rc.d; fi
    if [ $rc != 0 ] || [ ! -x /usr/sbin/sshd ]; then
        echo "sshd_start: cannot install openssh-server with apt-get" >&2
        return 1
    fi
}

sshd_start() {
    sshd_install || return 1
    command -v ssh-keygen >/dev/null || { echo "sshd_start: ssh-keygen not found (openssh-client)" >&2; return 1; }

    sshd_tmp=$(mktemp -d /tmp/handbill-sshd.XXXXXX) || { echo "sshd_start: mktemp failed" >&2; return 1; }
    # The login user must be able to reach its SFTP root and read authorized_keys in here.
    chmod 755 "$sshd_tmp"

    local user password root
    root="$sshd_tmp/root"
    mkdir "$root" || { sshd_fail "cannot create $root"; return 1; }
    if [ "$(id -u)" = 0 ]; then
        user=$SSHD_SYSTEM_USER
        if ! id -u "$user" >/dev/null 2>&1; then
            useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
                --comment "Handbill test SFTP user" "$user" ||
                { sshd_fail "cannot create user $user"; return 1; }
        fi
        password=$(python3 -c 'import secrets; print(secrets.token_urlsafe(18))') ||
            { sshd_fail "cannot make a password"; return 1; }
        # Also unlocks the account: sshd (UsePAM no) refuses locked accounts, even by key.
        echo "$user:$password" | chpasswd || { sshd_fail "chpasswd failed for $user"; return 1; }
        chown "$user:" "$root" || { sshd_fail "cannot chown $root"; return 1; }
        # Privilege separation directory, normally made by the systemd unit.
        mkdir -p /run/sshd && chmod 755 /run/sshd
    else
        user=$(id -un)
        password=""
    fi

    ssh-keygen -q -t ed25519 -N '' -C handbill-test-host -f "$sshd_tmp/host_ed25519_key" ||
        { sshd_fail "ssh-keygen (host key) failed"; return 1; }
    ssh-keygen -q -t ed25519 -N '' -C handbill-test-client -f "$sshd_tmp/client_ed25519_key" ||
        { sshd_fail "ssh-keygen (client key) failed"; return 1; }
    cp "$sshd_tmp/client_ed25519_key.pub" "$sshd_tmp/authorized_keys"
    chmod 644 "$sshd_tmp/authorized_keys"
    # Root keeps the client key (mode 600) to itself; the tests run as root too.

    local attempt port penalties="PerSourcePenalties no" i banner=""
    for attempt in 1 2 3; do
        port=$(sshd_free_port) || { sshd_fail "cannot find a free port (python3)"; return 1; }
        sshd_write_config "$port" "$user" "$root" "$penalties"
        if ! /usr/sbin/sshd -t -f "$sshd_tmp/sshd_config" >"$sshd_tmp/sshd.log" 2>&1; then
            # PerSourcePenalties (OpenSSH >= 9.8) would lock 127.0.0.1 out after the tests'
            # deliberate authentication failures; older servers reject the keyword.
            if [ -n "$penalties" ] && grep -q PerSourcePenalties "$sshd_tmp/sshd.log"; then
                penalties=""
                sshd_write_config "$port" "$user" "$root" "$penalties"
                /usr/sbin/sshd -t -f "$sshd_tmp/sshd_config" >"$sshd_tmp/sshd.log" 2>&1 ||
                    { sshd_fail "invalid sshd_config"; return 1; }
            else
                sshd_fail "invalid sshd_config"
                return 1
            fi
        fi
        # In the foreground (-D) so that its pid is ours and a failed bind shows as an exit;
        # -E sends its log to the file. disown: no "Terminated" notice when sshd_stop kills it.
        /usr/sbin/sshd -D -f "$sshd_tmp/sshd_config" -E "$sshd_tmp/sshd.log" </dev/null >>"$sshd_tmp/sshd.log" 2>&1 &
        sshd_pid=$!
        disown "$sshd_pid" 2>/dev/null || true
        # Wait for the SSH banner on the port, or for sshd to die.
        banner=""
        for i in $(seq 1 100); do
            sshd_running "$sshd_pid" || break
            banner=$(python3 - "$port" <<'EOF' 2>/dev/null || true
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2)
print(s.recv(64).decode("ascii", "replace").strip())
EOF
)
            case "$banner" in SSH-2.0-*) break ;; esac
            sleep 0.1
        done
        case "$banner" in SSH-2.0-*) break ;; esac
        if sshd_running "$sshd_pid"; then
            sshd_fail "sshd is not answering on 127.0.0.1:$port"
            return 1
        fi
        sshd_pid=""
        # Another process took the port between sshd_free_port and the bind: try another one.
        grep -q 'Address already in use' "$sshd_tmp/sshd.log" || { sshd_fail "sshd exited"; return 1; }
    done
    case "$banner" in
        SSH-2.0-*) ;;
        *) sshd_fail "no free port after 3 attempts"; return 1 ;;
    esac

    SSHD_HOST=127.0.0.1
    SSHD_PORT=$port
    SSHD_USER=$user
    SSHD_PASSWORD=$password
    SSHD_KEY=$sshd_tmp/client_ed25519_key
    SSHD_ROOT=$root
    SSHD_HOST_KEY_FINGERPRINT=$(ssh-keygen -l -E sha256 -f "$sshd_tmp/host_ed25519_key.pub" | awk '{print $2}')
    export SSHD_HOST SSHD_PORT SSHD_USER SSHD_PASSWORD SSHD_KEY SSHD_ROOT SSHD_HOST_KEY_FINGERPRINT
    echo "$banner sshd started on 127.0.0.1:$port (user $user)" >&2
}

# sshd_write_config PORT USER ROOT [EXTRA_LINE]
sshd_write_config() {
    cat >"$sshd_tmp/sshd_config" <<EOF
ListenAddress 127.0.0.1
Port $1
HostKey $sshd_tmp/host_ed25519_key
PidFile $sshd_tmp/sshd.pid
AllowUsers $2
AuthorizedKeysFile $sshd_tmp/authorized_keys
PubkeyAuthentication yes
PasswordAuthentication yes
KbdInteractiveAuthentication no
PermitEmptyPasswords no
UsePAM no
StrictModes no
PrintMotd no
PrintLastLog no
UseDNS no
# Tests may open many connections at once: do not drop unauthenticated ones early.
MaxStartups 200
MaxAuthTries 10
LogLevel VERBOSE
Subsystem sftp internal-sftp
ForceCommand internal-sftp -d $3
AllowTcpForwarding no
X11Forwarding no
${4:-}
EOF
}

sshd_stop() {
    if [ -n "$sshd_tmp" ]; then
        if [ -z "$sshd_pid" ] && [ -s "$sshd_tmp/sshd.pid" ]; then
            sshd_pid=$(cat "$sshd_tmp/sshd.pid")
        fi
        if [ -n "$sshd_pid" ]; then
            # The listener, then the per-connection children it forked (if tests left any).
            local children
            children=$(ps -o pid= --ppid "$sshd_pid" 2>/dev/null || true)
            kill "$sshd_pid" 2>/dev/null || true
            if [ -n "$children" ]; then kill $children 2>/dev/null || true; fi
            local i
            for i in $(seq 1 50); do
                sshd_running "$sshd_pid" || break
                sleep 0.1
            done
            kill -9 "$sshd_pid" 2>/dev/null || true
        fi
        rm -rf "$sshd_tmp"
        sshd_tmp=""
        sshd_pid=""
    fi
}
