#!/bin/sh
# run-gateway.sh -- run the gateway from the source tree, for local debugging.
#
#   scripts/run-gateway.sh [--text] [--debug] [soulgw options ...]
#
#   --text    log as text lines instead of JSON (GATEWAY__LOG__FORMAT=text)
#   --debug   log at debug level (GATEWAY__LOG__LEVEL=debug)
#
# Builds build/soulgw if needed, sets the development secrets GATEWAY_TOKEN_LOCAL=dev-token
# and GATEWAY_HMAC_LOCAL=dev-hmac unless they are already set, and runs
#
#   build/soulgw --config ${GATEWAY_CONFIG_FILE:-conf/gateway.toml} [soulgw options ...]
#
# from the project root, so that the relative paths of conf/gateway.toml (var/soulgw.db,
# conf/manifests.json) resolve there.  Other options go to soulgw, for example --port 0,
# --db :memory: or --check.  Ctrl-C drains and stops the gateway.
set -eu

usage() {
	sed -n '4,7s/^# \{0,1\}//p' "$0"
}

while [ $# -gt 0 ]; do
	case $1 in
	--text)
		GATEWAY__LOG__FORMAT=text
		export GATEWAY__LOG__FORMAT
		shift
		;;
	--debug)
		GATEWAY__LOG__LEVEL=debug
		export GATEWAY__LOG__LEVEL
		shift
		;;
	-h | --help)
		usage
		exit 0
		;;
	--)
		shift
		break
		;;
	*)
		break
		;;
	esac
done

# A configuration file named relative to the caller's directory must survive the cd below.
config=${GATEWAY_CONFIG_FILE:-conf/gateway.toml}
case $config in
/*) ;;
*) if [ -f "$config" ]; then config=$(pwd)/$config; fi ;;
esac

cd "$(dirname "$0")/.."

B=${B:-build}
if ! make -s --no-print-directory B="$B" all >&2; then
	echo "run-gateway.sh: build failed; 'make deps' installs what is missing" >&2
	exit 1
fi
mkdir -p var

: "${GATEWAY_TOKEN_LOCAL:=dev-token}"
: "${GATEWAY_HMAC_LOCAL:=dev-hmac}"
export GATEWAY_TOKEN_LOCAL GATEWAY_HMAC_LOCAL
echo "development secrets (not for production):" >&2
echo "  GATEWAY_TOKEN_LOCAL=$GATEWAY_TOKEN_LOCAL" >&2
echo "  GATEWAY_HMAC_LOCAL=$GATEWAY_HMAC_LOCAL" >&2

exec "$B/soulgw" --config "$config" "$@"
