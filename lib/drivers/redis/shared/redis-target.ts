import type { ResolvedEventBusOptions } from '../../../options/resolved-options.interface';

/**
 * Where the redis options point, for log lines and error messages: `redis://127.0.0.1:6379/0 as user
 * 'app'`. Never a password (a URL's password is dropped, a `password` option is never read).
 */
export function describeRedisTarget(options: ResolvedEventBusOptions['redis']): string {
  if (options.client !== undefined) return 'the given client';
  const user = (name: string | undefined): string => (name ? ` as user '${name}'` : '');
  const { url, host, port, db, path, username, sentinels, name } = options;
  if (url !== undefined) {
    try {
      const parsed = new URL(url);
      const urlDb = parsed.pathname.length > 1 ? parsed.pathname : db !== undefined ? `/${db}` : '';
      return `${parsed.protocol}//${parsed.host}${urlDb}${user(decodeURIComponent(parsed.username) || username)}`;
    } catch {
      return 'redis.url (not a valid URL)';
    }
  }
  const dbPart = db !== undefined ? `/${db}` : '';
  if (sentinels !== undefined && sentinels !== null && sentinels.length > 0) {
    const nodes = sentinels.map((s) => `${s.host ?? '127.0.0.1'}:${s.port ?? 26379}`).join(',');
    return `master '${name ?? ''}' via sentinels ${nodes}${dbPart}${user(username)}`;
  }
  if (path !== undefined) return `unix:${path}${dbPart}${user(username)}`;
  const scheme = options.tls !== undefined && options.tls !== false ? 'rediss' : 'redis';
  return `${scheme}://${host ?? '127.0.0.1'}:${port ?? 6379}${dbPart}${user(username)}`;
}
