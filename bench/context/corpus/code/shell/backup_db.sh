#!/usr/bin/env bash
# Nightly dump of the PostgreSQL database to the NAS, keeping seven days.
set -euo pipefail

DB=${DB:-ferry}
DEST=${DEST:-/mnt/nas/db-dumps}
stamp=$(date +%Y%m%d-%H%M)
tmp="$DEST/.$DB-$stamp.dump.partial"

# Write under a temporary name and rename at the end, so a dump cut short by a crash never looks complete.
pg_dump --format=custom --compress=6 --file="$tmp" "$DB"
mv -- "$tmp" "$DEST/$DB-$stamp.dump"

ls -1t "$DEST"/"$DB"-*.dump | tail -n +8 | xargs -r rm --
