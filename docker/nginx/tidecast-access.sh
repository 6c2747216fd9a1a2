#!/bin/sh
# Writes the address lists docker/nginx/tidecast.conf includes, from two settings:
#   TIDECAST_ADMIN_ALLOW_FROM  addresses or networks (comma or space separated) that may open /admin/;
#                              empty: any address
#   TIDECAST_TRUSTED_PROXIES   the TLS load balancers in front of nginx: only from them are
#                              X-Forwarded-For (the client's address) and X-Forwarded-Proto believed;
#                              empty: none, nginx is the edge
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
