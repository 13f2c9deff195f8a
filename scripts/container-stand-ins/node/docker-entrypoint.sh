#!/bin/sh
# TEST STAND-IN: the official node image's entrypoint behaviour.
set -e
# Run the command with node when the first argument is an option or not a system command.
if [ "${1#-}" != "${1}" ] || [ -z "$(command -v "${1}")" ] || { [ -f "${1}" ] && ! [ -x "${1}" ]; }; then
  set -- node "$@"
fi
exec "$@"
