#!/bin/sh
# Writes the address lists and the TLS listener docker/nginx/tidecast.conf includes, from:
#   TIDECAST_ADMIN_ALLOW_FROM  addresses or networks (comma or space separated) that may open /admin/;
#                              empty: any address
#   TIDECAST_TRUSTED_PROXIES   the TLS load balancers in front of nginx: only from them are
#                              X-Forwarded-For (the client's address) and X-Forwarded-Proto believed;
#                              empty: none, nginx is the edge
#   TIDECAST_TLS_CERT_FILE     HTTPS: the certificate chain (PEM) and its key; both set, nginx also
#   TIDECAST_TLS_KEY_FILE      listens with TLS and HTTP/2 on TIDECAST_TLS_LISTEN (default 443);
#                              both empty: plain HTTP only
#   TIDECAST_ACCESS_DIR        where the files go (default /etc/nginx/tidecast)
# The nginx image runs it from /docker-entrypoint.d/ before it renders the template; tests/deploy
# runs it the same way. Anything but an IPv4/IPv6 address or network stops it with an error.
set -euf

dir="${TIDECAST_ACCESS_DIR:-/etc/nginx/tidecast}"
mkdir -p "$dir"

# The list in $1, one checked entry per line.
entries() {
    for entry in $(printf '%s' "$1" | tr ',' ' '); do
        case "$entry" in
            *[!0-9A-Fa-f:./]* | */*/* | .* | /*)
                echo "tidecast-access: not an address or network: $entry" >&2
                return 1
                ;;
        esac
        printf '%s\n' "$entry"
    done
}

admin=$(entries "${TIDECAST_ADMIN_ALLOW_FROM:-}")
proxies=$(entries "${TIDECAST_TRUSTED_PROXIES:-}")

# geo $tidecast_admin_allowed: 1 for an address that may open /admin/.
{
    if [ -z "$admin" ]; then
        echo "default 1;"
    else
        echo "default 0;"
        printf '%s\n' "$admin" | sed 's/$/ 1;/'
    fi
} > "$dir/admin-allow.geo"

# geo $tidecast_from_trusted_proxy (on the peer's own address): 1 for a trusted load balancer.
{
    echo "default 0;"
    [ -z "$proxies" ] || printf '%s\n' "$proxies" | sed 's/$/ 1;/'
} > "$dir/trusted-proxies.geo"

# The realip module: behind a trusted load balancer, $remote_addr becomes the client it saw.
{
    echo "# from TIDECAST_TRUSTED_PROXIES"
    if [ -n "$proxies" ]; then
        printf '%s\n' "$proxies" | sed 's/^/set_real_ip_from /; s/$/;/'
        echo "real_ip_header X-Forwarded-For;"
    fi
} > "$dir/trusted-proxies.realip"

# HTTPS with HTTP/2 on the same server (same locations) when a certificate is given. nginx 1.22
# (Debian 12) spells HTTP/2 on the listen line; newer versions accept it with a deprecation note.
tls_cert="${TIDECAST_TLS_CERT_FILE:-}"
tls_key="${TIDECAST_TLS_KEY_FILE:-}"
tls_listen="${TIDECAST_TLS_LISTEN:-443}"
for value in "$tls_cert" "$tls_key" "$tls_listen"; do
    case "$value" in
        *[!A-Za-z0-9_./:@-]*)
            echo "tidecast-access: not a plain path or listen address: $value" >&2
            exit 1
            ;;
    esac
done
if { [ -n "$tls_cert" ] && [ -z "$tls_key" ]; } || { [ -z "$tls_cert" ] && [ -n "$tls_key" ]; }; then
    echo "tidecast-access: set both TIDECAST_TLS_CERT_FILE and TIDECAST_TLS_KEY_FILE, or neither" >&2
    exit 1
fi
{
    if [ -n "$tls_cert" ]; then
        echo "listen $tls_listen ssl http2;"
        echo "ssl_certificate $tls_cert;"
        echo "ssl_certificate_key $tls_key;"
        echo "ssl_protocols TLSv1.2 TLSv1.3;"
        echo "ssl_session_cache shared:tidecast_tls:10m;"
        echo "ssl_session_timeout 1d;"
    else
        echo "# no TLS: TIDECAST_TLS_CERT_FILE and TIDECAST_TLS_KEY_FILE are unset"
    fi
} > "$dir/tls.listen"
