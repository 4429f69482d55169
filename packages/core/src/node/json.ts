import { readFileSync } from 'node:fs';
import { fsError } from './errors';

/**
 * A file whose content is not what it should be: bad JSON (with the line and column), or a
 * missing / wrong field. The message names the file.
 */
export class FileFormatError extends Error {
  override readonly name = 'FileFormatError';
  constructor(
    /** The offending file. */
    readonly path: string,
    /** What is wrong, with the line and column or the field. */
    readonly problem: string,
    options?: { cause?: unknown },
  ) {
    super(`${path}: ${problem}`, options);
  }
}

function lineColumn(text: string, position: number): { line: number; column: number } {
  let line = 1;
  let start = 0;
  for (let i = 0; i < position && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      start = i + 1;
    }
  }
  return { line, column: position - start + 1 };
}

/**
 * `JSON.parse` whose errors name the file, the line and the column (`firstLine` offsets the line
 * numbers, for a line of a JSON-lines file).
 */
export function parseJsonText(text: string, path: string, firstLine = 1): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    const m = /at position (\d+)/.exec(message);
    const what = message.replace(/\s*in JSON at position \d+.*$/s, '').replace(/^JSON\.parse: /, '');
    if (text.trim() === '')
      throw new FileFormatError(path, `line ${firstLine}: empty, expected JSON`, { cause: e });
    const at = m ? lineColumn(text, Number(m[1])) : lineColumn(text, text.length);
    const truncated = !m || Number(m[1]) >= text.trimEnd().length;
    throw new FileFormatError(
      path,
      `line ${at.line + firstLine - 1}, column ${at.column}: ${truncated ? 'truncated JSON' : 'invalid JSON'} (${what})`,
      { cause: e },
    );
  }
}

/** Reads and parses a JSON file; errors name the file (and the line and column of bad JSON). */
export function readJsonFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw fsError('read', path, e);
  }
  return parseJsonText(text, path);
}

/** Reads a JSON-lines file (blank lines skipped); errors name the file and the line. */
export function readJsonLines(path: string): unknown[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw fsError('read', path, e);
  }
  const out: unknown[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim()) out.push(parseJsonText(line, path, i + 1));
  });
  return out;
}
