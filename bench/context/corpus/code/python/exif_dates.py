"""Working out when a photo was taken."""

import os
import re
from datetime import datetime, timedelta, timezone

EXIF_DATE = re.compile(r"^(\d{4}):(\d{2}):(\d{2}) (\d{2}):(\d{2}):(\d{2})$")
OFFSET = re.compile(r"^([+-])(\d{2}):(\d{2})$")
FILENAME_DATE = re.compile(r"(?:IMG|PXL|VID)_(\d{8})_(\d{6})")


def parse_exif_datetime(value, offset=None):
    """'2023:07:14 18:03:22' (+ optional OffsetTimeOriginal '+02:00') -> datetime.

    Cameras write all-zero or all-blank dates when their clock was never set; those give None rather than
    the year 0000, which datetime cannot represent anyway.
    """
    m = EXIF_DATE.match(value.strip())
    if not m or m.group(1) == "0000":
        return None
    dt = datetime(*map(int, m.groups()))
    if offset:
        o = OFFSET.match(offset.strip())
        if o:
            delta = timedelta(hours=int(o.group(2)), minutes=int(o.group(3)))
            dt = dt.replace(tzinfo=timezone(delta if o.group(1) == "+" else -delta))
    return dt


def capture_time(path, exif):
    """Best guess of the capture time: EXIF first, then a date in the file name, then the file's mtime."""
    dt = parse_exif_datetime(exif.get("DateTimeOriginal", ""), exif.get("OffsetTimeOriginal"))
    if dt:
        return dt, "exif"
    m = FILENAME_DATE.search(os.path.basename(path))
    if m:
        return datetime.strptime(m.group(1) + m.group(2), "%Y%m%d%H%M%S"), "filename"
    return datetime.fromtimestamp(os.path.getmtime(path)), "mtime"
