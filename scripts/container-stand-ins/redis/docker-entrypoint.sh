#!/bin/sh
# TEST STAND-IN for the official redis image's entrypoint.
set -eu
# The first argument is an option or a config file: run redis-server with it.
if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then set -- redis-server "$@"; fi
if [ "$1" = redis-server ] && [ "$(id -u)" = 0 ]; then
  find . \! -user redis -exec chown redis '{}' +
  exec setpriv --reuid=redis --regid=redis --init-groups "$0" "$@"
fi
# The official image is built with protected mode off by default (Docker publishes ports explicitly).
second=${2:-}
if [ "$1" = redis-server ] && [ "${second%.conf}" = "$second" ]; then
  case " $* " in *" --protected-mode "*) ;; *) set -- "$@" --protected-mode no ;; esac
fi
exec "$@"
