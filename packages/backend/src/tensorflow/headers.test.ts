import { describe, expect, it } from 'vitest';
import { includeClosure, quotedIncludes } from './headers';

describe('includeClosure', () => {
  const tree: Record<string, string> = {
    'tensorflow/c/c_api.h': '#include "tensorflow/c/tf_status.h"\n#include <stddef.h>\n',
    'tensorflow/c/tf_status.h': '  #  include "tf_tstring.h"\n#include "xla/tsl/c/tsl_status.h"\n',
    'tensorflow/c/tf_tstring.h': '#include "tensorflow/core/platform/ctstring.h"\n',
    'tensorflow/core/platform/ctstring.h': '#include "tsl/platform/ctstring.h"\n',
    'tsl/platform/ctstring.h': '#include "tsl/platform/ctstring_internal.h"\n',
    'tsl/platform/ctstring_internal.h': '',
    'xla/tsl/c/tsl_status.h': '',
    'tensorflow/core/framework/unused.h': '#include "tensorflow/c/c_api.h"\n',
  };
  it('follows quoted includes from the roots, next to the includer first, then from the root', () => {
    const needed = includeClosure(['tensorflow/c/c_api.h', 'napi_auto_ref.h'], (p) => tree[p]);
    expect(needed).toEqual([
      'tensorflow/c/c_api.h',
      'tensorflow/c/tf_status.h',
      'tensorflow/c/tf_tstring.h',
      'tensorflow/core/platform/ctstring.h',
      'tsl/platform/ctstring.h',
      'tsl/platform/ctstring_internal.h',
      'xla/tsl/c/tsl_status.h',
    ]);
  });
  it('reads quoted includes only', () => {
    expect(quotedIncludes('#include <a.h>\n#include "b.h"\n// #include "c.h"\n #include"d.h"')).toEqual([
      'b.h',
      'd.h',
    ]);
  });
});
