import { closeSync, existsSync, openSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { dirname } from 'node:path';
import { type Logger, silentLogger } from '../logger';
import { ensureDir } from './atomic';
import { fsError } from './errors';
import { digestMatches, hashFile } from './hash';

/** A download failed: HTTP error, checksum mismatch, or too many interrupted attempts. */
export class DownloadError extends Error {
  override readonly name = 'DownloadError';
  /** The URL being downloaded. */
  readonly url: string;
  constructor(url: string, problem: string, options?: { cause?: unknown }) {
    super(`Download of ${url} failed: ${problem}`, options);
    this.url = url;
  }
}

/** Options for {@link download}. */
export interface DownloadOptions {
  /** The URL (http or https; redirects are followed). */
  readonly url: string;
  /** Final path. The data first goes to `<dest>.part`, renamed to `dest` only once verified. */
  readonly dest: string;
  /**
   * Expected sha256 (hex) of the file, or a prefix of it of at least 8 digits (torch.hub's
   * convention); a mismatch deletes the download and throws.
   */
  readonly sha256?: string;
  /** Expected md5 (hex), for sources that publish only md5. */
  readonly md5?: string;
  /**
   * An extra check of the complete `.part` file before it is renamed (e.g. the sha256 of its
   * decompressed content, for mirrors that recompress); returns a problem or `undefined`.
   */
  readonly verify?: (file: string) => Promise<string | undefined> | string | undefined;
  /** Attempts after an interrupted transfer (each resumes with an HTTP Range request). Default 5. */
  readonly retries?: number;
  /** Socket inactivity timeout in ms. Default 30000. */
  readonly timeoutMs?: number;
  /** Progress in bytes (`total` is 0 when unknown). */
  readonly onProgress?: (done: number, total: number) => void;
  readonly logger?: Logger;
}

class Retryable extends Error {}

function request(
  url: string,
  headers: Record<string, string>,
  timeoutMs: number,
): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const mod = url.startsWith('https:') ? https : http;
    const req = mod.get(url, { headers }, resolve);
    req.setTimeout(timeoutMs, () => req.destroy(new Retryable(`no data for ${timeoutMs} ms`)));
    req.on('error', (e) => reject(e instanceof Retryable ? e : new Retryable(e.message)));
  });
}

async function verify(file: string, options: DownloadOptions): Promise<string | undefined> {
  if (options.sha256) {
    const got = await hashFile(file, 'sha256');
    if (!digestMatches(got, options.sha256)) return `sha256 mismatch: expected ${options.sha256}, got ${got}`;
  }
  if (options.md5) {
    const got = await hashFile(file, 'md5');
    if (!digestMatches(got, options.md5)) return `md5 mismatch: expected ${options.md5}, got ${got}`;
  }
  return options.verify ? await options.verify(file) : undefined;
}

/**
 * Downloads `url` to `dest`, resumably and safely:
 * - bytes are written to `<dest>.part`; an interrupted transfer (dropped connection, timeout) is
 *   retried with `Range: bytes=<have>-` and appended (a server that ignores Range restarts it);
 * - when complete, the sha256 / md5 is checked; on a mismatch the partial file is deleted and a
 *   {@link DownloadError} names the URL, the expected and the actual digest;
 * - only a verified file is renamed to `dest`, so `dest` is never a half file.
 * An existing `dest` that verifies is reused without any request. Returns `dest`.
 */
export async function download(options: DownloadOptions): Promise<string> {
  const { url, dest } = options;
  const logger = options.logger ?? silentLogger;
  if (existsSync(dest)) {
    const problem = await verify(dest, options);
    if (!problem) return dest;
    logger.warn(`existing ${dest} is invalid (${problem}); downloading again`);
    rmSync(dest, { force: true });
  }
  ensureDir(dirname(dest));
  const part = `${dest}.part`;
  const retries = options.retries ?? 5;
  const timeoutMs = options.timeoutMs ?? 30_000;
  let lastError = '';
  for (let attempt = 0; attempt <= retries; attempt++) {
    let have = existsSync(part) ? statSync(part).size : 0;
    let target = url;
    let res: http.IncomingMessage | undefined;
    try {
      for (let redirects = 0; ; redirects++) {
        res = await request(target, have > 0 ? { Range: `bytes=${have}-` } : {}, timeoutMs);
        const status = res.statusCode ?? 0;
        if (status >= 300 && status < 400 && res.headers.location && redirects < 10) {
          res.resume();
          target = new URL(res.headers.location, target).toString();
          continue;
        }
        break;
      }
      const status = res.statusCode ?? 0;
      if (status === 416 && have > 0) {
        // Range not satisfiable: the .part may already be complete.
        res.resume();
        const problem = await verify(part, options);
        if (!problem && (options.sha256 || options.md5 || options.verify)) break;
        rmSync(part, { force: true });
        lastError = 'server refused to resume (416)';
        continue;
      }
      if (status !== 200 && status !== 206) {
        res.resume();
        if (status >= 500 || status === 429) throw new Retryable(`HTTP ${status}`);
        throw new DownloadError(url, `HTTP ${status} ${res.statusMessage ?? ''}`.trim());
      }
      let flags = 'a';
      if (status === 200) {
        have = 0;
        flags = 'w';
      } else {
        const m = /bytes (\d+)-/.exec(String(res.headers['content-range'] ?? ''));
        if (!m || Number(m[1]) !== have) {
          res.resume();
          rmSync(part, { force: true });
          throw new Retryable(
            `server resumed at the wrong offset (${res.headers['content-range'] ?? 'none'})`,
          );
        }
      }
      const length = Number(res.headers['content-length'] ?? Number.NaN);
      const total = Number.isFinite(length) ? have + length : 0;
      let done = have;
      // Every received chunk is written synchronously, so what was received is on disk even when
      // the connection drops (a stream pipeline would discard its buffered chunks on error).
      let fd: number;
      try {
        fd = openSync(part, flags);
      } catch (e) {
        throw fsError('write', part, e);
      }
      const body = res;
      try {
        await new Promise<void>((resolve, reject) => {
          body.on('data', (chunk: Buffer) => {
            try {
              let off = 0;
              while (off < chunk.length) off += writeSync(fd, chunk, off, chunk.length - off);
            } catch (e) {
              body.destroy();
              reject(fsError('write', part, e));
              return;
            }
            done += chunk.length;
            options.onProgress?.(done, total);
          });
          body.on('end', () => resolve());
          body.on('error', (e) =>
            reject(new Retryable(`connection dropped after ${done} bytes (${e.message})`)),
          );
          body.on('close', () => {
            if (!body.complete) reject(new Retryable(`connection dropped after ${done} bytes`));
          });
        });
      } finally {
        closeSync(fd);
      }
      if (total && done < total) throw new Retryable(`connection closed after ${done} of ${total} bytes`);
      break;
    } catch (e) {
      if (!(e instanceof Retryable)) throw e;
      lastError = e.message;
      res?.destroy();
      logger.warn(`download of ${url} interrupted (${e.message}); attempt ${attempt + 1} of ${retries + 1}`);
      if (attempt === retries) {
        throw new DownloadError(
          url,
          `gave up after ${retries + 1} attempts: ${lastError} (partial data kept in ${part})`,
        );
      }
      await new Promise((r) => setTimeout(r, Math.min(2000, 50 * 2 ** attempt)));
    }
  }
  if (!existsSync(part)) throw new DownloadError(url, `no data received (${lastError})`);
  const problem = await verify(part, options);
  if (problem) {
    rmSync(part, { force: true });
    throw new DownloadError(url, `${problem}; the corrupt download was deleted`);
  }
  try {
    renameSync(part, dest);
  } catch (e) {
    throw fsError('write', dest, e);
  }
  return dest;
}
