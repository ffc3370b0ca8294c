#!/usr/bin/env bash
# Compresses application logs older than a day and deletes compressed logs older than RETAIN_DAYS.
# Run daily from cron; safe to run twice (already-compressed files are skipped).
set -euo pipefail

LOG_DIR=${1:-/var/log/ferry}
RETAIN_DAYS=${RETAIN_DAYS:-30}

if [[ ! -d "$LOG_DIR" ]]; then
  echo "rotate_logs: no such folder: $LOG_DIR" >&2
  exit 2
fi

# gzip keeps the original's mtime, so the age test below measures the age of the log, not of the archive.
find "$LOG_DIR" -maxdepth 1 -type f -name '*.log.*' ! -name '*.gz' -mtime +0 -print0 |
  while IFS= read -r -d '' file; do
    gzip -9 -- "$file"
  done

find "$LOG_DIR" -maxdepth 1 -type f -name '*.gz' -mtime +"$RETAIN_DAYS" -print -delete

# Warn when the disk is nearly full even after rotation: the incident of June started this way.
usage=$(df --output=pcent "$LOG_DIR" | tail -1 | tr -dc '0-9')
if (( usage > 90 )); then
  echo "rotate_logs: $LOG_DIR is on a disk ${usage}% full" >&2
fi
