#!/bin/sh
# Starts only when the image's clean-up step took effect: everything it removed must be gone.
for gone in /opt/app/build.log /opt/app/cache /opt/app/conf/debug.conf /opt/app/plugins/old.plugin /bin/ip /bin/ifconfig; do
  if [ -e "$gone" ] || [ -L "$gone" ]; then
    echo "stale file: $gone is still there" >&2
    exit 1
  fi
done
echo "app $(cat /opt/app/VERSION) on $(uname -m), $(cat /opt/app/conf/app.conf), plugins:" $(ls /opt/app/plugins)
