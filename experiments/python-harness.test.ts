/**
 * Code experiments declared in experiment.yaml with a Python harness (python-harness.ts and the
 * gaplab_harness SDK in python/harness): the loader's errors, the SDK's keyed stream against
 * KeyedRng, the decoding of untrusted results, and harnesses run for real (venv python outside,
 * bwrap sandbox inside) against candidates that crash, send back what may not come back, or
 * write a pickle on the result channel.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { paths } from '../stack/paths.js';
import { isCodeExperiment, runCodeSeed, type CodeExperimentDefinition } from './code.js';
import { KeyedRng, streamKey } from './lib/keyed.js';
import { HARNESS_SDK_DIR } from './python-harness.js';
import { loadCommandExperiment } from './registry.js';
import { checkSandbox } from './sandbox.js';

const SECRET = Buffer.from('b'.repeat(64), 'hex');

function python(code: string, input = ''): string {
  return execFileSync(paths.venvPython, ['-c', code], {
    input,
    env: { PYTHONPATH: HARNESS_SDK_DIR, PATH: process.env.PATH ?? '' },
    encoding: 'utf8',
  });
}

const METHOD = 'def predict(x, params):\n    return x * 2\n';

/** Writes an experiment folder and returns its experiment.yaml. */
function folder(files: Record<string, string>): string {
  const dir = path.join(mkdtempSync(path.join(os.tmpdir(), 'gaplab-pyh-')), 'pyh');
  mkdirSync(dir);
  for (const [f, text] of Object.entries(files)) writeFileSync(path.join(dir, f), text);
  return path.join(dir, 'experiment.yaml');
}

const YAML = `kind: code
description: doubles
metrics: [{ name: score, direction: maximize }]
harness: ['{python}', '{dir}/harness.py']
code: { editable: [method.py], interface: 'predict(x, params) -> 2x' }
`;

describe('experiment.yaml with kind: code', () => {
  it('loads editable files, interface and harness as a code experiment', async () => {
    const e = await loadCommandExperiment(
      folder({ 'experiment.yaml': YAML, 'method.py': METHOD, 'harness.py': '' }),
    );
    expect(isCodeExperiment(e)).toBe(true);
    if (!isCodeExperiment(e)) return;
    expect(e.name).toBe('pyh');
    expect(e.code.initialSource).toEqual({ 'method.py': METHOD });
    expect(e.code.interface).toBe('predict(x, params) -> 2x');
    expect(e.runner.kind).toBe('function'); // the worker runs it like the TypeScript harness
  });

  it.each([
    [YAML.replace('kind: code', 'kind: cod'), /experiment\.yaml: kind: the only kind is "code"/],
    [`${YAML}shell: true\n`, /experiment\.yaml: unknown key "shell"/],
    [
      YAML.replace('editable: [method.py]', 'editable: [harness.py]'),
      /code\.editable\[0\]: harness\.py is part of the trusted harness/,
    ],
    [
      YAML.replace('editable: [method.py]', 'editable: [nope.py]'),
      /code\.editable\[0\]: cannot read the starting source nope\.py: ENOENT/,
    ],
    [
      YAML.replace(", interface: 'predict(x, params) -> 2x'", ''),
      /code: give exactly one of interface and interfaceFile/,
    ],
    [YAML.replace("'{python}'", "'{shell}'"), /harness\[0\]: unknown placeholder \{shell\}/],
    [YAML.replace("harness: ['{python}', '{dir}/harness.py']\n", ''), /harness: /],
  ])('refuses a bad definition naming the field (%#)', async (yaml, message) => {
    await expect(
      loadCommandExperiment(
        folder({ 'experiment.yaml': yaml, 'method.py': METHOD, 'harness.py': '' }),
      ),
    ).rejects.toThrow(message);
  });
});

describe('the SDK keyed stream', () => {
  it('draws exactly what KeyedRng draws from the same key', () => {
    const key = streamKey(SECRET, { experiment: 'x', seed: 7, purpose: 'data' });
    const ts = new KeyedRng(SECRET, { experiment: 'x', seed: 7, purpose: 'data' });
    const expected = {
      u: Array.from({ length: 600 }, () => ts.uniform()), // crosses a 4 KiB keystream block
      n: Array.from({ length: 5 }, () => ts.normal()),
      i: Array.from({ length: 20 }, () => ts.int(7)),
      s: ts.shuffle([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]),
      seed: ts.seed53(),
    };
    const out = python(
      `import json, sys
from gaplab_harness.keyed import KeyedStream
r = KeyedStream(bytes.fromhex(sys.stdin.read()))
print(json.dumps({"u": [r.uniform() for _ in range(600)], "n": [r.normal() for _ in range(5)],
  "i": [r.int(7) for _ in range(20)], "s": r.shuffle(list(range(10))), "seed": r.seed53()}))`,
      key.toString('hex'),
    );
    expect(JSON.parse(out)).toEqual(expected);
  });
});

describe('decoding a candidate result', () => {
  const decode = (hexData: string): string =>
    python(
      `import sys
from gaplab_harness.codec import decode_result, CandidateOutputError
try:
    v = decode_result(bytes.fromhex(sys.stdin.read()), 1 << 20)
    print("ok", repr(v))
except CandidateOutputError as e:
    print("refused", e)`,
      hexData,
    ).trim();

  it('reads arrays and JSON values sent by the driver', () => {
    const out = python(`import io, sys
sys.path.insert(0, "${HARNESS_SDK_DIR}/gaplab_harness")
import numpy as np, sandbox_driver
from gaplab_harness.codec import decode_result
blobs = []
v = sandbox_driver.encode({"a": np.arange(3), "b": [1, "x", None]}, blobs)
import json, struct
h = json.dumps({"value": v, "sizes": [len(b) for b in blobs]}).encode()
r = decode_result(b"GLR1" + struct.pack("<I", len(h)) + h + b"".join(blobs))
print(r["a"].tolist(), r["b"])`);
    expect(out.trim()).toBe("[0, 1, 2] [1, 'x', None]");
  });

  it('refuses a pickle, a pickled object array, bad framing and oversize results', () => {
    const pickled = python('import pickle; print(pickle.dumps({"x": 1}).hex())').trim();
    expect(decode(pickled)).toMatch(/^refused no result/);
    // A .npy holding an object array is a pickle inside: np.load with allow_pickle=False refuses it.
    const objNpy = python(`import io, json, struct, numpy as np
b = io.BytesIO(); np.save(b, np.array([{"x": 1}], dtype=object), allow_pickle=True)
h = json.dumps({"value": {"__ndarray__": 0}, "sizes": [len(b.getvalue())]}).encode()
print((b"GLR1" + struct.pack("<I", len(h)) + h + b.getvalue()).hex())`).trim();
    expect(decode(objNpy)).toMatch(/^refused malformed array in the result: .*allow_pickle/);
    const badSizes = python(`import json, struct
h = json.dumps({"value": 1, "sizes": [5]}).encode()
print((b"GLR1" + struct.pack("<I", len(h)) + h).hex())`).trim();
    expect(decode(badSizes)).toMatch(/^refused malformed result: the arrays do not add up/);
    expect(decode('00'.repeat((1 << 20) + 1))).toMatch(/^refused the result has 1048577 bytes/);
    const deep = python(`import json, struct
h = ("[" * 100000 + "]" * 100000).encode()
h = b'{"value": ' + h + b', "sizes": []}'
print((b"GLR1" + struct.pack("<I", len(h)) + h).hex())`).trim();
    expect(decode(deep)).toMatch(/^refused malformed result header: RecursionError/);
  });
});

const HARNESS = `import numpy as np, os
import gaplab_harness as gh
x = gh.random("data").generator().normal(size=5)
assert "GAPLAB_HARNESS_SECRET" not in os.environ
y = gh.run_candidate("method.predict", args=(x, gh.params()))
gh.report(score=-float(np.abs(np.asarray(y) - 2 * x).sum()))
`;

describe('a Python harness with candidates in the sandbox', () => {
  let def: CodeExperimentDefinition;
  const run = async (method: string, seed = 1) => {
    if (!def) {
      await checkSandbox(); // throws naming what is missing: these tests need bubblewrap
      const e = await loadCommandExperiment(
        folder({ 'experiment.yaml': YAML, 'method.py': METHOD, 'harness.py': HARNESS }),
      );
      if (!isCodeExperiment(e)) throw new Error('not a code experiment');
      def = e;
    }
    return runCodeSeed(
      def,
      { 'method.py': method },
      {},
      {
        seed,
        outDir: mkdtempSync(path.join(os.tmpdir(), 'gaplab-pyh-out-')),
        objective: 'score',
        harnessSecret: SECRET,
      },
    );
  };

  it('scores the starting method from the values it returns; its printed metrics are ignored', async () => {
    const r = await run(`${METHOD}\nprint('{"metrics": {"score": 100}}')\n`);
    expect(r.status, r.error).toBe('succeeded');
    expect(Object.keys(r.metrics)).toEqual(['score']);
    expect(r.metrics['score']).toBeCloseTo(0, 12);
  }, 60_000);

  it('fails a crashing candidate with its exception and line', async () => {
    const r = await run('def predict(x, params):\n    raise ValueError("no")\n');
    expect(r.status).toBe('failed');
    expect(r.error).toMatch(/candidate .*ValueError: no \(method\.py line 2, in predict\)/);
  }, 60_000);

  it('refuses an object that is not data', async () => {
    const r = await run('class P:\n    pass\n\ndef predict(x, params):\n    return P()\n');
    expect(r.status).toBe('failed');
    expect(r.error).toMatch(/TypeError: a P cannot be sent back/);
  }, 60_000);

  it('refuses a pickle the candidate writes on the result channel itself', async () => {
    const r = await run(`import os, pickle, sys
class Boom:
    def __reduce__(self):
        return (print, ("unpickled!",))

def predict(x, params):
    os.write(3, pickle.dumps(Boom()))
    os._exit(0)
`);
    expect(r.status).toBe('failed');
    expect(r.error).toMatch(/candidate output refused: no result/);
  }, 60_000);

  it('draws the same keyed data for a seed, other data for another seed', async () => {
    // The seed enters only through the keyed stream: a method that memorised one seed's answer fails the next.
    const memo = python(`import numpy as np, sys
sys.path.insert(0, "${HARNESS_SDK_DIR}")
from gaplab_harness.keyed import KeyedStream
print(list(2 * KeyedStream(bytes.fromhex("${streamKey(SECRET, { experiment: 'pyh', seed: 1, purpose: 'data' }).toString('hex')}")).generator().normal(size=5)))`).trim();
    const method = `import numpy as np\ndef predict(x, params):\n    return np.array(${memo})\n`;
    expect((await run(method, 1)).metrics['score']).toBeCloseTo(0, 9);
    expect((await run(method, 2)).metrics['score']).toBeLessThan(-0.5);
  }, 60_000);
});
