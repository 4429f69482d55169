import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  DuplicatePluginError,
  InvalidConfigError,
  PluginError,
  PluginLoadError,
  Registry,
  UnknownPluginError,
} from './index';
import type { Dataset } from './types';

const fakeDataset = (size: number): Dataset => ({
  name: 'fake',
  shape: [2, 2, 1],
  load: async () => ({ size, shape: [2, 2, 1], data: new Uint8Array(size * 4) }),
});

function makeRegistry(): Registry {
  const r = new Registry();
  r.register({
    kind: 'dataset',
    name: 'fake',
    configSchema: z.object({
      size: z.number().int().positive().default(7),
      nested: z.object({ a: z.string() }).optional(),
    }),
    create: (c) => fakeDataset(c.size),
  });
  return r;
}

describe('Registry', () => {
  it('fills defaults and creates instances', async () => {
    const r = makeRegistry();
    expect(r.resolveConfig('dataset', 'fake', {})).toEqual({ size: 7 });
    const ds = await r.create('dataset', 'fake', { size: 3 });
    expect((await ds.load('train')).size).toBe(3);
    expect(r.createSync('dataset', 'fake').name).toBe('fake');
  });

  it('names the kind and the known names for an unknown plugin', () => {
    const r = makeRegistry();
    r.register({ kind: 'dataset', name: 'other', configSchema: z.object({}), create: () => fakeDataset(1) });
    const err = (() => {
      try {
        r.get('dataset', 'mnits');
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(UnknownPluginError);
    expect((err as UnknownPluginError).known).toEqual(['fake', 'other']);
    expect((err as Error).message).toContain('Unknown dataset plugin "mnits"');
    expect((err as Error).message).toContain('"fake", "other"');
  });

  it('names the offending field of an invalid config', async () => {
    const r = makeRegistry();
    await expect(r.create('dataset', 'fake', { size: -2 })).rejects.toThrow(InvalidConfigError);
    try {
      r.resolveConfig('dataset', 'fake', { nested: { a: 3 } });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(InvalidConfigError);
      const err = e as InvalidConfigError;
      expect(err.kind).toBe('dataset');
      expect(err.pluginName).toBe('fake');
      expect(err.field).toBe('nested.a');
      expect(err.message).toMatch(/dataset plugin "fake".*field "nested\.a"/);
    }
  });

  it('refuses duplicate names and malformed definitions', () => {
    const r = makeRegistry();
    expect(() =>
      r.register({ kind: 'dataset', name: 'fake', configSchema: z.object({}), create: () => fakeDataset(1) }),
    ).toThrow(DuplicatePluginError);
    // the same name under another kind is fine
    r.register({ kind: 'generator', name: 'fake', configSchema: z.object({}), create: () => ({}) as never });
    expect(r.has('generator', 'fake')).toBe(true);
    expect(() =>
      r.register({
        kind: 'nope' as 'dataset',
        name: 'x',
        configSchema: z.object({}),
        create: () => fakeDataset(1),
      }),
    ).toThrow(/Unknown plugin kind "nope"/);
    expect(() => r.register({ kind: 'dataset', name: 'x' } as never)).toThrow(PluginError);
    expect(() =>
      r.register({
        kind: 'dataset',
        name: 'bad name!',
        configSchema: z.object({}),
        create: () => fakeDataset(1),
      }),
    ).toThrow(/Invalid dataset plugin name/);
  });

  it('refuses createSync on an async factory', () => {
    const r = new Registry();
    r.register({
      kind: 'dataset',
      name: 'slow',
      configSchema: z.object({}),
      create: async () => fakeDataset(1),
    });
    expect(() => r.createSync('dataset', 'slow')).toThrow(/asynchronous/);
  });

  it('loads plugins by module specifier and checks what the module exports', async () => {
    const r = new Registry();
    const plugin = {
      kind: 'dataset',
      name: 'from-module',
      configSchema: z.object({}),
      create: () => fakeDataset(2),
    };
    const modules: Record<string, unknown> = {
      '@acme/good': { plugins: [plugin] },
      '@acme/default': { default: { plugins: [{ ...plugin, name: 'from-default' }] } },
      '@acme/empty': { somethingElse: 1 },
      '@acme/bad-entry': { plugins: [{ kind: 'dataset' }] },
    };
    const importer = async (s: string) => {
      if (!(s in modules)) throw new Error(`Cannot find module '${s}'`);
      return modules[s];
    };
    expect(await r.loadPlugins(['@acme/good', '@acme/default'], importer)).toEqual([
      'dataset:from-module',
      'dataset:from-default',
    ]);
    expect(await r.loadPlugins(['@acme/good'], importer)).toEqual([]); // idempotent
    await expect(r.loadPlugins(['@acme/empty'], importer)).rejects.toThrow(
      /must export `plugins`.*`somethingElse`/,
    );
    await expect(r.loadPlugins(['@acme/bad-entry'], importer)).rejects.toThrow(
      /plugins\[0\] is not a plugin definition/,
    );
    await expect(r.loadPlugins(['@acme/missing'], importer)).rejects.toThrow(PluginLoadError);
  });

  it('loads a real ES module file through dynamic import', async () => {
    const r = new Registry();
    const url = new URL('../test/fixtures/plugin-module.mjs', import.meta.url).href;
    expect(await r.loadPlugins([url])).toEqual(['dataset:fixture-dataset']);
    const ds = await r.create('dataset', 'fixture-dataset', { size: 5 });
    expect((await ds.load('test')).size).toBe(5);
  });
});

describe('strict plugin configs', () => {
  it('an unknown key at any depth is an error naming the plugin, the key and the known keys', () => {
    const r = makeRegistry();
    const err = (() => {
      try {
        r.resolveConfig('dataset', 'fake', { Size: 3, nested: { a: 'x', b: 1 } });
      } catch (e) {
        return e as InvalidConfigError;
      }
      throw new Error('accepted an unknown key');
    })();
    expect(err).toBeInstanceOf(InvalidConfigError);
    expect(err.issues.map((i) => i.field)).toEqual(['Size', 'nested.b']);
    expect(err.message).toContain('dataset plugin "fake"');
    expect(err.message).toContain(
      'field "Size": unknown key (did you mean "size"?); known keys: size, nested',
    );
  });

  it('holds through transforms and defaults; loose objects accept extra keys; strict ones name the key', () => {
    const r = new Registry();
    const base = { kind: 'dataset' as const, create: () => fakeDataset(1) };
    r.register({
      ...base,
      name: 'piped',
      configSchema: z.object({ n: z.number().default(1) }).transform((c) => ({ n2: c.n * 2 })),
    });
    r.register({ ...base, name: 'loose', configSchema: z.looseObject({ n: z.number().default(1) }) });
    r.register({ ...base, name: 'strict', configSchema: z.strictObject({ n: z.number().default(1) }) });
    expect(r.resolveConfig('dataset', 'piped', { n: 2 })).toEqual({ n2: 4 });
    expect(() => r.resolveConfig('dataset', 'piped', { m: 2 })).toThrow(/field "m": unknown key/);
    expect(r.resolveConfig('dataset', 'loose', { m: 2 })).toEqual({ n: 1, m: 2 });
    expect(() => r.resolveConfig('dataset', 'strict', { m: 2 })).toThrow(/field "m": unknown key/);
    expect(r.configKeys('dataset', 'piped')).toEqual(['n']);
  });
});
