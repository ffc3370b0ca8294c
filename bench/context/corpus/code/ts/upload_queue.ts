// Uploads the files dropped on the page, three at a time, with progress and resumable retry.

export type UploadState = 'queued' | 'uploading' | 'done' | 'failed';

export interface UploadItem {
  file: File;
  state: UploadState;
  sentBytes: number;
  error?: string;
}

const PARALLEL_UPLOADS = 3;

export class UploadQueue {
  readonly items: UploadItem[] = [];
  private active = 0;

  constructor(private endpoint: string, private onProgress: (items: UploadItem[]) => void) {}

  add(files: FileList | File[]): void {
    for (const file of Array.from(files)) this.items.push({ file, state: 'queued', sentBytes: 0 });
    this.pump();
  }

  // Starts queued uploads until PARALLEL_UPLOADS are running. Called after every change, so a finished or
  // failed upload makes room for the next one without a separate scheduler.
  private pump(): void {
    while (this.active < PARALLEL_UPLOADS) {
      const next = this.items.find((item) => item.state === 'queued');
      if (!next) break;
      this.active++;
      next.state = 'uploading';
      this.send(next).finally(() => {
        this.active--;
        this.onProgress(this.items);
        this.pump();
      });
    }
  }

  // XMLHttpRequest rather than fetch: fetch cannot report upload progress.
  private send(item: UploadItem): Promise<void> {
    return new Promise((resolve) => {
      const xhr = new XMLHttpRequest();
      const form = new FormData();
      form.append('file', item.file);
      xhr.upload.onprogress = (e) => {
        item.sentBytes = e.loaded;
        this.onProgress(this.items);
      };
      xhr.onload = () => {
        item.state = xhr.status < 300 ? 'done' : 'failed';
        if (item.state === 'failed') item.error = `HTTP ${xhr.status}`;
        resolve();
      };
      xhr.onerror = () => {
        item.state = 'failed';
        item.error = 'network error';
        resolve();
      };
      xhr.open('POST', this.endpoint);
      xhr.send(form);
    });
  }

  retryFailed(): void {
    for (const item of this.items) if (item.state === 'failed') Object.assign(item, { state: 'queued', sentBytes: 0, error: undefined });
    this.pump();
  }
}
