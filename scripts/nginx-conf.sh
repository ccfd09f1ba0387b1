# Sourced by scripts/lib.sh (for cluster.sh and bench.sh): the nginx that both run
# locally, from the shared deploy/nginx/natter.conf.template.

# render_nginx_conf DIR ROOT LISTEN GATEWAY1 GATEWAY2 GATEWAY3 GATEWAY4
# writes DIR/nginx/nginx.conf, for an unprivileged, foreground nginx whose
# files all live in DIR (logs in DIR/logs), and the template rendered with
# the listen address and the four gateways (host:port), and
# NATTER_CONNS_PER_ADDR (the environment's; 512) as the requests one client
# address may hold open. It fails if a placeholder is left.
render_nginx_conf() {
	local dir=$1 root=$2 listen=$3 conf=$1/nginx
	mkdir -p "$conf/tmp"
	sed -e "s|\${NGINX_LISTEN}|$listen|g" \
		-e "s|\${NGINX_ACCESS_LOG}|$dir/logs/nginx-access.log|g" \
		-e "s|\${NATTER_GATEWAY_1}|$4|g" -e "s|\${NATTER_GATEWAY_2}|$5|g" \
		-e "s|\${NATTER_GATEWAY_3}|$6|g" -e "s|\${NATTER_GATEWAY_4}|$7|g" \
		-e "s|\${NATTER_CONNS_PER_ADDR}|${NATTER_CONNS_PER_ADDR:-512}|g" \
		"$root/deploy/nginx/natter.conf.template" >"$conf/natter.conf"
	if grep -v '^[[:space:]]*#' "$conf/natter.conf" | grep '\${' >&2; then
		echo "placeholders left in $conf/natter.conf" >&2
		return 1
	fi
	# As root, nginx's workers would run as nobody, who cannot enter a
	# private folder like a test's temporary one: keep them as the caller.
	local user=""
	[ "$(id -u)" != "0" ] || user="user $(id -un) $(id -gn);"
	cat >"$conf/nginx.conf" <<CONF
# Written by scripts/nginx-conf.sh; the server is deploy/nginx/natter.conf.template.
$user
worker_processes 2;
daemon off;
pid $conf/nginx.pid;
error_log $dir/logs/nginx.log warn;
events { worker_connections 4096; }
http {
    client_body_temp_path $conf/tmp/body;
    proxy_temp_path $conf/tmp/proxy;
    fastcgi_temp_path $conf/tmp/fastcgi;
    uwsgi_temp_path $conf/tmp/uwsgi;
    scgi_temp_path $conf/tmp/scgi;
    include $conf/natter.conf;
}
CONF
}
