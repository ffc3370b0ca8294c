// A minimal observable store for UI state: components subscribe to a slice and re-render when it changes.

type Listener<S> = (state: S, previous: S) => void;

export class Store<S extends object> {
  private listeners = new Set<Listener<S>>();

  constructor(private state: S) {}

  get(): S {
    return this.state;
  }

  // Applies a partial update. Listeners are called only if some field actually changed (by identity), so
  // a component that sets the value it already has does not cause a render loop.
  update(patch: Partial<S>): void {
    const previous = this.state;
    const next = { ...previous, ...patch };
    const changed = (Object.keys(patch) as (keyof S)[]).some((k) => previous[k] !== next[k]);
    if (!changed) return;
    this.state = next;
    for (const listener of this.listeners) listener(next, previous);
  }

  subscribe(listener: Listener<S>): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  // Subscribes to one derived value; the callback runs only when that value changes.
  select<T>(selector: (state: S) => T, onChange: (value: T) => void): () => void {
    let current = selector(this.state);
    return this.subscribe((state) => {
      const value = selector(state);
      if (value !== current) {
        current = value;
        onChange(value);
      }
    });
  }
}
