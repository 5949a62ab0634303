/**
 * Code experiments declared in experiment.yaml with a Python harness (python-harness.ts and the
 * gaplab_harness SDK in python/harness): the loader's errors, the SDK's keyed stream against
 * KeyedRng, the decoding of untrusted results, and harnesses run for real (venv python outside,
 * bwrap sandbox inside) against candidates that crash, send back what may not come back, or
 * write a pickle on the result channel.
 */
import { execFileSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { paths } from '../stack/paths.js';
import {
  compileCheck,
  isCodeExperiment,
  runCodeSeed,
  type CodeExperimentDefinition,
} from './code.js';
import { KeyedRng, streamKey } from './lib/keyed.js';
import { HARNESS_SDK_DIR } from './python-harness.js';
import { loadCommandExperiment } from './registry.js';
import { groupAlive, type ProcessGroupGuard } from './runner.js';
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
sys.path.insert(0, "${import.meta.dirname}")
import tamper_guard
sys.modules["gaplab_guard"] = tamper_guard  # as the sandbox names it
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
    // The harness asserts it cannot see the worker's secret (only derived stream keys).
    process.env.GAPLAB_HARNESS_SECRET = 'c'.repeat(64);
    onTestFinished(() => void delete process.env.GAPLAB_HARNESS_SECRET);
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

describe('the OpenEvolve layout (experiments/bin-packing)', () => {
  let def: CodeExperimentDefinition;
  const START = '# EVOLVE-BLOCK-START\n';
  const block = (body: string) => {
    const initial = def.code.initialSource['initial_program.py'] as string;
    const head = initial.slice(0, initial.indexOf(START) + START.length);
    const tail = initial.slice(initial.indexOf('# EVOLVE-BLOCK-END'));
    return { 'initial_program.py': `${head}${body}\n\n${tail}` };
  };
  const run = async (source: Record<string, string>) => {
    if (!def) throw new Error('not loaded');
    const outDir = mkdtempSync(path.join(os.tmpdir(), 'gaplab-oe-out-'));
    const r = await runCodeSeed(
      def,
      source,
      { order: 'given' },
      {
        seed: 1,
        outDir,
        objective: 'combined_score',
        harnessSecret: SECRET,
      },
    );
    return { r, outDir };
  };
  const ONE_PER_BIN = 'def pack(sizes, capacity, options):\n    return list(range(len(sizes)))';

  it('loads the evaluator as the harness of the program', async () => {
    await checkSandbox(); // throws naming what is missing: these tests need bubblewrap
    const e = await loadCommandExperiment(
      path.join(import.meta.dirname, 'bin-packing', 'experiment.yaml'),
    );
    if (!isCodeExperiment(e)) throw new Error('bin-packing is not a code experiment');
    def = e;
    expect(def.code.editable).toEqual(['initial_program.py']);
  });

  it('refuses edits outside the EVOLVE-BLOCKs, accepts edits inside', async () => {
    const inside = block(ONE_PER_BIN);
    expect(await compileCheck(def.code, inside)).toBeUndefined();
    const outside = {
      'initial_program.py': `import os\n${def.code.initialSource['initial_program.py']}`,
    };
    expect(await compileCheck(def.code, outside)).toMatch(
      /^initial_program\.py line 1: edits outside the EVOLVE-BLOCK-START\/END regions are refused/,
    );
    const unbalanced = {
      'initial_program.py': (def.code.initialSource['initial_program.py'] as string).replace(
        '# EVOLVE-BLOCK-END',
        '# the end',
      ),
    };
    expect(await compileCheck(def.code, unbalanced)).toMatch(/has no EVOLVE-BLOCK-END/);
  });

  it('prunes a bad program at stage 1 with that stage’s metrics, after one sandboxed call', async () => {
    const { r, outDir } = await run(block(ONE_PER_BIN));
    // Pruned is the seed's outcome, with the stage and its score, not only a metric.
    expect(r.status, r.error).toBe('pruned');
    expect(r.pruned?.stage).toBe(1);
    expect(r.pruned?.score).toBeCloseTo(r.metrics['combined_score']!, 12);
    expect(r.metrics['pruned']).toBe(1);
    expect(r.metrics['cascade_stage']).toBe(1);
    expect(r.metrics['combined_score']).toBeLessThan(0.6);
    const log = readFileSync(path.join(outDir, 'candidate-stdout.log'), 'utf8');
    expect(log.match(/--- call \d+ ---/g)).toEqual(['--- call 1 ---']);
    // The starting method passes stage 1 and runs stage 2 too.
    const { r: base } = await run(def.code.initialSource);
    expect(base.status, base.error).toBe('succeeded');
    expect(base.pruned).toBeUndefined();
    expect(base.metrics).toMatchObject({ pruned: 0, cascade_stage: 2, valid: 1 });
  }, 120_000);

  it('fails a program that writes a pickle for the evaluator, with the reason', async () => {
    const { r } = await run(
      block(`import os, pickle
def pack(sizes, capacity, options):
    os.write(3, pickle.dumps([0] * len(sizes)))
    os._exit(0)`),
    );
    expect(r.status).toBe('failed');
    expect(r.error).toMatch(/candidate output refused: no result/);
    const { r: asBytes } = await run(
      block(
        'import pickle\ndef pack(sizes, capacity, options):\n    return pickle.dumps([0] * len(sizes))',
      ),
    );
    expect(asBytes.error).toMatch(/TypeError: a bytes cannot be sent back/);
  }, 120_000);

  it('fails a program that monkeypatches what the evaluator imports, naming what it replaced', async () => {
    const { r } = await run(
      block(`import math, sys
import numpy
math.ceil = lambda x: 10 ** 6
numpy.mean = lambda *a, **k: 1.0
sys.modules.get("evaluator") and setattr(sys.modules["evaluator"], "_score", lambda *a: (1.0, 1))
${ONE_PER_BIN}`),
    );
    // The patches stay in the sandbox's process (the evaluator's math and numpy are its own), and
    // the driver's tripwire fails the run with their names instead of scoring it.
    expect(r.status).toBe('failed');
    expect(r.error).toMatch(/TamperError: the candidate replaced math\.ceil, numpy\.mean:/);
    // Patching the driver itself, or a builtin, is caught too.
    const { r: driver } = await run(
      block(`import builtins, sys
builtins.__import__ = builtins.__import__.__call__
sys.modules["__main__"].encode = lambda v, blobs: v
${ONE_PER_BIN}`),
    );
    expect(driver.status).toBe('failed');
    expect(driver.error).toMatch(
      /TamperError: the candidate replaced __main__\.encode, builtins\.__import__:/,
    );
    // An honest program that imports and uses libraries as usual is not.
    const { r: honest } = await run(
      block(`import warnings, logging
import numpy as np
logging.captureWarnings(True)
np.seterr(all="ignore")
warnings.warn = lambda *a, **k: None
${ONE_PER_BIN}`),
    );
    expect(honest.status, honest.error).toBe('pruned');
  }, 120_000);

  it('fails a program that reads the evaluator’s source: it is not in the sandbox', async () => {
    const evaluator = path.join(import.meta.dirname, 'bin-packing', 'evaluator.py');
    const { r } = await run(
      block(`def pack(sizes, capacity, options):
    return open(${JSON.stringify(evaluator)}).read()`),
    );
    expect(r.status).toBe('failed');
    expect(r.error).toMatch(
      /FileNotFoundError: .*evaluator\.py'? \(initial_program\.py line \d+, in pack\)/,
    );
  }, 120_000);
});

/** A process's state letter from /proc (undefined once it is gone). */
function procState(pid: number): string | undefined {
  try {
    const st = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return st.slice(st.lastIndexOf(')') + 2, st.lastIndexOf(')') + 3);
  } catch {
    return undefined;
  }
}
const running = (pid: number) => {
  const s = procState(pid);
  return s !== undefined && s !== 'Z';
};

/** Live sandboxes this process started (bwrap, or the unshare that becomes it). */
function sandboxes(): number[] {
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const st = readFileSync(`/proc/${e}/stat`, 'utf8');
      const comm = st.slice(st.indexOf('(') + 1, st.lastIndexOf(')'));
      const [state, ppid] = st.slice(st.lastIndexOf(')') + 2).split(' ');
      if (Number(ppid) === process.pid && /^(bwrap|unshare)$/.test(comm) && state !== 'Z')
        out.push(Number(e));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

describe('a Python harness under process supervision', () => {
  // The harness starts a grandchild (`sleep`) in its group, writes both pids, then calls a
  // candidate that sleeps in the sandbox (or, with `exit` as argument, reports and exits with
  // the grandchild still holding its stdout).
  const SUPERVISED = `import subprocess, sys, time
import gaplab_harness as gh

child = subprocess.Popen(["sleep", "300"])
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(f"{child.pid}\\n")
import os
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
if sys.argv[2] == "exit":
    gh.report(score=1.0)
    sys.exit(0)
gh.run_candidate("method.predict", args=(1, {}))
time.sleep(300)
`;
  const SLEEPY = 'import time\ndef predict(x, params):\n    time.sleep(300)\n';
  const load = async (mode: 'candidate' | 'exit') => {
    await checkSandbox(); // throws naming what is missing: these tests need bubblewrap
    const pids = path.join(mkdtempSync(path.join(os.tmpdir(), 'gaplab-pyh-pids-')), 'pids');
    const e = await loadCommandExperiment(
      folder({
        'experiment.yaml': `kind: code
description: sleeps
metrics: [{ name: score, direction: maximize }]
harness: ['{python}', '{dir}/harness.py', ${JSON.stringify(pids)}, ${mode}]
code: { editable: [method.py], interface: 'predict(x, params)' }
sandbox: { wallSeconds: 300, cpuSeconds: 300 }
`,
        'method.py': SLEEPY,
        'harness.py': SUPERVISED,
      }),
    );
    if (!isCodeExperiment(e)) throw new Error('not a code experiment');
    const groups: { registered: number[]; released: number[] } = { registered: [], released: [] };
    const guard: ProcessGroupGuard = {
      register: (g) => void groups.registered.push(g),
      release: (g) => void groups.released.push(g),
    };
    return { def: e, pids, guard, groups };
  };
  const grandchild = (pids: string) => Number(readFileSync(pids, 'utf8').trim());

  it.each(['cancelled', 'timed out'] as const)(
    'a %s seed leaves no harness, grandchild or sandbox process behind',
    async (how) => {
      const { def, pids, guard, groups } = await load('candidate');
      const controller = new AbortController();
      const result = runCodeSeed(
        def,
        { 'method.py': SLEEPY },
        {},
        {
          seed: 1,
          outDir: mkdtempSync(path.join(os.tmpdir(), 'gaplab-pyh-out-')),
          objective: 'score',
          harnessSecret: SECRET,
          guard,
          signal: controller.signal,
          ...(how === 'timed out' ? { timeoutSeconds: 8 } : {}),
        },
      );
      // Stop it once the harness, its grandchild and the candidate's sandbox all run.
      await vi.waitFor(
        () => {
          if (!existsSync(pids) || sandboxes().length === 0) throw new Error('not started yet');
        },
        { timeout: 20_000, interval: 100 },
      );
      const [pgid] = groups.registered;
      const sleeper = grandchild(pids);
      const sandbox = sandboxes();
      expect(pgid && running(pgid) && running(sleeper)).toBe(true);
      if (how === 'cancelled') controller.abort();
      const r = await result;
      if (how === 'cancelled') expect(r.status).toBe('cancelled');
      else expect([r.status, r.error]).toEqual(['failed', 'timed out after 8 s']);
      // Gone by the time the seed ends, not later.
      expect(groupAlive(pgid!)).toBe(false);
      expect(running(sleeper)).toBe(false);
      expect(sandbox.filter(running)).toEqual([]);
      expect(sandboxes()).toEqual([]);
      expect(groups.released).toEqual([pgid]);
    },
    60_000,
  );

  it('a harness that exits ends its seed at once; what it left behind is killed', async () => {
    const { def, pids, guard, groups } = await load('exit');
    const r = await runCodeSeed(
      def,
      { 'method.py': SLEEPY },
      {},
      {
        seed: 1,
        outDir: mkdtempSync(path.join(os.tmpdir(), 'gaplab-pyh-out-')),
        objective: 'score',
        harnessSecret: SECRET,
        guard,
        timeoutSeconds: 40,
      },
    );
    // The grandchild still holds the harness's stdout: waiting for the pipe to close would
    // last until the seed's timeout.
    expect(r.status, r.error).toBe('succeeded');
    expect(r.durationSeconds).toBeLessThan(30);
    expect(running(grandchild(pids))).toBe(false);
    expect(groups.registered).toHaveLength(1);
    expect(groups.released).toEqual(groups.registered);
  }, 60_000);
});

describe('experiments/README.md, "Adding a code problem in Python"', () => {
  const readme = readFileSync(path.join(import.meta.dirname, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Adding a code problem in Python'));
  const block = (lang: string, after: string) => {
    const from = section.indexOf(after);
    const m = new RegExp('```' + lang + '\\n([\\s\\S]*?)```').exec(section.slice(from));
    if (from < 0 || !m) throw new Error(`no ${lang} block after "${after}" in the README`);
    return m[1]!;
  };

  it('runs its experiment.yaml and ten-line harness as shown', async () => {
    await checkSandbox(); // throws naming what is missing: these tests need bubblewrap
    const harness = block('python', 'A ten-line harness');
    expect(harness.trim().split('\n').length).toBeLessThanOrEqual(10);
    const e = await loadCommandExperiment(
      folder({
        'experiment.yaml': block('yaml', 'kind: code'),
        'harness.py': harness,
        'method.py': `import numpy as np

def predict(x_train, y_train, x_test, params):
    w = np.linalg.lstsq(x_train, 2.0 * y_train - 1, rcond=None)[0]
    return (x_test @ w > 0).astype(np.int64)
`,
      }),
    );
    if (!isCodeExperiment(e)) throw new Error('not a code experiment');
    expect(e.code.editable).toEqual(['method.py']);
    const r = await runCodeSeed(
      e,
      e.code.initialSource,
      {},
      {
        seed: 1,
        outDir: mkdtempSync(path.join(os.tmpdir(), 'gaplab-pyh-out-')),
        objective: 'accuracy',
        harnessSecret: SECRET,
      },
    );
    expect(r.status, r.error).toBe('succeeded');
    expect(r.metrics['accuracy']).toBeGreaterThan(0.9);
  }, 60_000);

  it('lists the whole SDK API', () => {
    const api = python(
      'import gaplab_harness as gh, json; print(json.dumps(sorted(gh.__all__)))',
    ).trim();
    const table = section.slice(
      section.indexOf("The SDK's whole API"),
      section.indexOf('What comes back is data'),
    );
    for (const name of JSON.parse(api) as string[])
      expect(table, `gh.${name} is not in the README's API table`).toMatch(
        new RegExp('`[^`\\n]*\\b' + name + '\\b[^`\\n]*`'),
      );
  });
});
