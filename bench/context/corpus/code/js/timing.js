// Rate-shaping helpers for UI event handlers.

/**
 * Returns a function that calls `fn` only once the calls have stopped for `waitMs`: a search box
 * queries the server when the user pauses typing, not on every keystroke.
 */
export function debounce(fn, waitMs) {
  let timer = null;
  const debounced = function (...args) {
    clearTimeout(timer);
    timer = setTimeout(() => {
      timer = null;
      fn.apply(this, args);
    }, waitMs);
  };
  debounced.cancel = () => {
    clearTimeout(timer);
    timer = null;
  };
  return debounced;
}

/**
 * Returns a function that calls `fn` at most once every `intervalMs`, with the latest arguments: a scroll
 * handler runs a few times per second rather than on every frame.
 */
export function throttle(fn, intervalMs) {
  let last = 0;
  let pending = null;
  return function (...args) {
    const now = Date.now();
    const remaining = intervalMs - (now - last);
    if (remaining <= 0) {
      last = now;
      fn.apply(this, args);
    } else {
      clearTimeout(pending);
      pending = setTimeout(() => {
        last = Date.now();
        fn.apply(this, args);
      }, remaining);
    }
  };
}
