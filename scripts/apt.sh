# Sourced (not run) by the scripts that provide a test dependency from a Debian package
# (chromium.sh, pebble.sh, postgres.sh); each defines `say` first. Gives them sbin on PATH (apt-get
# and the admin tools live there, and a non-login PATH may lack it), `as_root` (itself as root,
# else sudo), and `apt_install PACKAGE [NOTE]`, which refreshes the package lists only when apt
# does not know the package yet.
PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

if [ "$(id -u)" -eq 0 ]; then
  as_root() { "$@"; }
else
  as_root() { sudo "$@"; }
fi

apt_install() {
  if ! apt-cache policy "$1" 2>/dev/null | grep -q 'Candidate: [0-9]'; then
    say "apt-get update"
    as_root apt-get update -qq >&2
  fi
  say "installing $1${2:+ ($2)}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >&2
}
