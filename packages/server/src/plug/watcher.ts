// Watches the plugs folder and turns file changes into plug swaps, one at a time.
import { watch, type FSWatcher } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { isPlugFile } from './loader.ts';

/** What the watcher calls when a plug file appeared or changed, or disappeared. */
export interface WatchTarget {
  load(file: string): Promise<void>;
  unload(file: string): Promise<void>;
}

const SETTLE_MS = 40;

/**
 * Watches one folder (not its subfolders). Editors write files in several steps, so a file is acted on
 * once it has been quiet for a moment; changes are applied one after another, in order.
 */
export class PlugWatcher {
  private watcher: FSWatcher | undefined;
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private chain: Promise<void> = Promise.resolve();
  private readonly dir: string;
  private readonly target: WatchTarget;

  constructor(dir: string, target: WatchTarget) {
    this.dir = dir;
    this.target = target;
  }

  start(): void {
    this.watcher = watch(this.dir, { persistent: false }, (_event, filename) => {
      if (filename) this.schedule(join(this.dir, filename.toString()));
      else void this.rescan();
    });
    this.watcher.on('error', () => void this.rescan());
  }

  /** Resolves when every change seen so far has been applied. */
  idle(): Promise<void> {
    return this.chain;
  }

  close(): void {
    this.watcher?.close();
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
  }

  private schedule(file: string): void {
    if (!isPlugFile(file)) return;
    clearTimeout(this.timers.get(file));
    this.timers.set(
      file,
      setTimeout(() => {
        this.timers.delete(file);
        this.chain = this.chain.then(() => this.apply(file));
      }, SETTLE_MS),
    );
  }

  private async apply(file: string): Promise<void> {
    const exists = await stat(file).then(
      (s) => s.isFile(),
      () => false,
    );
    await (exists ? this.target.load(file) : this.target.unload(file));
  }

  private async rescan(): Promise<void> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    for (const name of names) this.schedule(join(this.dir, name));
  }
}
