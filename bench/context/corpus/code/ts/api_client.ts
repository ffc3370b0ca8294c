// Typed client for the photo server's JSON API, used by the web interface.

export interface Photo {
  id: string;
  takenAt: string;
  width: number;
  height: number;
  favorite: boolean;
}

export class ApiError extends Error {
  constructor(public status: number, public code: string, message: string) {
    super(message);
  }
}

export class ApiClient {
  constructor(private baseUrl: string, private token: string, private timeoutMs = 15000) {}

  // Every request goes through here: bearer token, JSON, a timeout through AbortController (fetch has no
  // timeout of its own), and the server's error object turned into an ApiError.
  private async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), this.timeoutMs);
    try {
      const response = await fetch(this.baseUrl + path, {
        method,
        headers: {
          Authorization: `Bearer ${this.token}`,
          'Content-Type': 'application/json',
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: controller.signal,
      });
      if (!response.ok) {
        const payload = await response.json().catch(() => ({}));
        throw new ApiError(response.status, payload?.error?.code ?? 'unknown', payload?.error?.message ?? response.statusText);
      }
      return (await response.json()) as T;
    } finally {
      clearTimeout(timer);
    }
  }

  // Yields every photo of an album, following the pagination cursor page after page.
  async *albumPhotos(albumId: string): AsyncGenerator<Photo> {
    let cursor: string | undefined;
    do {
      const query = new URLSearchParams({ album: albumId, limit: '200' });
      if (cursor) query.set('cursor', cursor);
      const page = await this.request<{ photos: Photo[]; next?: string }>('GET', `/api/v3/photos?${query}`);
      yield* page.photos;
      cursor = page.next;
    } while (cursor);
  }

  setFavorite(photoId: string, favorite: boolean): Promise<Photo> {
    return this.request<Photo>('PATCH', `/api/v3/photos/${encodeURIComponent(photoId)}`, { favorite });
  }
}
