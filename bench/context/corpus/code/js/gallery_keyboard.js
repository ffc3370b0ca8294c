// Keyboard navigation of the photo viewer.

const KEY_ACTIONS = {
  ArrowLeft: 'previous',
  ArrowRight: 'next',
  Escape: 'close',
  f: 'toggleFavorite',
  i: 'toggleInfo',
  Delete: 'moveToTrash',
};

export function installViewerKeys(viewer, target = document) {
  function onKeyDown(event) {
    // Typing in the caption field must not flip photos.
    const tag = event.target.tagName;
    if (tag === 'INPUT' || tag === 'TEXTAREA' || event.target.isContentEditable) return;
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const action = KEY_ACTIONS[event.key];
    if (!action) return;
    event.preventDefault();
    viewer[action]();
  }
  target.addEventListener('keydown', onKeyDown);
  return () => target.removeEventListener('keydown', onKeyDown);
}

// Preloads the neighbours of the current photo so that the next arrow press shows it at once.
export function preloadNeighbours(photos, index, size = 1024) {
  for (const i of [index - 1, index + 1]) {
    if (i < 0 || i >= photos.length) continue;
    const img = new Image();
    img.src = `/thumbs/${photos[i].id}/${size}.webp`;
  }
}
