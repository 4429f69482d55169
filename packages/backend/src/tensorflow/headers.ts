/**
 * Which of the thousands of headers in a TensorFlow wheel the tfjs-node addon needs: the closure of
 * the quoted `#include`s of its sources over the wheel's `tensorflow/include/` tree (the C API is a
 * dozen plain C headers; the wheel carries 280 MB of C++ headers besides).
 */

const INCLUDE = /^[ \t]*#[ \t]*include[ \t]*"([^"]+)"/gm;

/** The quoted includes of a C or C++ source, in order. */
export function quotedIncludes(source: string): string[] {
  return [...source.matchAll(INCLUDE)].map((m) => m[1] as string);
}

function dirname(path: string): string {
  const i = path.lastIndexOf('/');
  return i < 0 ? '' : path.slice(0, i);
}

function normalise(path: string): string {
  const out: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') out.pop();
    else out.push(part);
  }
  return out.join('/');
}

/**
 * The headers (paths relative to the include root) reachable from `roots` through quoted
 * includes, resolved as a compiler does: next to the including header first, then at the include
 * root. Includes that resolve nowhere (the addon's own headers, system headers written with quotes)
 * are left out; `read` returns a header's text, or undefined when the tree has no such file.
 */
export function includeClosure(
  roots: readonly string[],
  read: (path: string) => string | undefined,
): string[] {
  const found = new Set<string>();
  const queue: Array<{ path: string; from: string | null }> = roots.map((path) => ({ path, from: null }));
  while (queue.length > 0) {
    const { path, from } = queue.shift() as { path: string; from: string | null };
    const candidates =
      from === null ? [normalise(path)] : [normalise(`${dirname(from)}/${path}`), normalise(path)];
    for (const candidate of candidates) {
      if (found.has(candidate)) break;
      const text = read(candidate);
      if (text === undefined) continue;
      found.add(candidate);
      for (const inc of quotedIncludes(text)) queue.push({ path: inc, from: candidate });
      break;
    }
  }
  return [...found].sort();
}
