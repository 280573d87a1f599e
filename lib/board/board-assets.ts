import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The page's files, shipped next to this module (`dist/board/assets` in the package). */
export interface BoardAssets {
  readonly html: string;
  readonly css: string;
  readonly js: string;
}

const BASE_MARK = /__BOARD_BASE__/g;

/**
 * Reads the page once at start-up. `base` (the configured path, already checked to be plain URL
 * segments) is the only value put into the HTML, and it is escaped all the same: the page never
 * contains anything from a request.
 */
export function loadBoardAssets(base: string): BoardAssets {
  const dir = join(__dirname, 'assets');
  const read = (name: string): string => {
    try {
      return readFileSync(join(dir, name), 'utf8');
    } catch (err) {
      throw new Error(
        `the event board cannot read its page file ${join(dir, name)} (${(err as Error).message}); ` +
          `reinstall nestjs-event-bus, or when building it from source run 'npm run build' (it copies lib/board/assets)`,
      );
    }
  };
  return { html: read('board.html').replace(BASE_MARK, escapeHtml(base)), css: read('board.css'), js: read('board.js') };
}

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}
