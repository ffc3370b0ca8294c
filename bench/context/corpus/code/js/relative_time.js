// Human-readable times for the activity feed: "just now", "5 minutes ago", "yesterday", "3 Mar".

const MINUTE = 60 * 1000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

const monthNames = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

function startOfDay(date) {
  return new Date(date.getFullYear(), date.getMonth(), date.getDate()).getTime();
}

export function formatRelative(then, now = new Date()) {
  const elapsed = now.getTime() - then.getTime();
  if (elapsed < 0) return 'in the future';
  if (elapsed < MINUTE) return 'just now';
  if (elapsed < HOUR) {
    const m = Math.floor(elapsed / MINUTE);
    return m === 1 ? '1 minute ago' : `${m} minutes ago`;
  }
  // "yesterday" is about calendar days, not 24-hour periods: 23:50 seen at 00:10 is yesterday.
  const days = Math.round((startOfDay(now) - startOfDay(then)) / DAY);
  if (days === 0) {
    const h = Math.floor(elapsed / HOUR);
    return h === 1 ? '1 hour ago' : `${h} hours ago`;
  }
  if (days === 1) return 'yesterday';
  if (days < 7) return `${days} days ago`;
  const label = `${then.getDate()} ${monthNames[then.getMonth()]}`;
  return then.getFullYear() === now.getFullYear() ? label : `${label} ${then.getFullYear()}`;
}
