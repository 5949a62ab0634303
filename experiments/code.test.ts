import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  candidateFailure,
  checkSource,
  compileCheck,
  compilePython,
  InvalidSourceError,
  redactHostText,
  sourceBytes,
  type CodeSpec,
} from './code.js';
import type { SandboxResult } from './sandbox.js';
import {
  BadPredictionsError,
  decodePredictions,
  npy,
  harnessStreams,
  prepareSeed,
  score,
} from './weak-to-strong-code/harness.js';

const spec: CodeSpec = {
  language: 'python',
  interface: 'train()',
  editable: ['method.py'],
  initialSource: { 'method.py': 'def train(): pass\n' },
  evaluate: () => Promise.resolve({}),
};

describe('checkSource', () => {
  it('accepts exactly the editable files', () => {
    expect(checkSource(spec, { 'method.py': 'x = 1\n' })).toEqual({ 'method.py': 'x = 1\n' });
  });
  it('refuses other files, missing files and bad paths, naming them', () => {
    expect(() => checkSource(spec, { 'method.py': '', 'harness.py': '' })).toThrow(
      'invalid source: harness.py not editable (editable: method.py)',
    );
    expect(() => checkSource(spec, {})).toThrow('invalid source: missing method.py');
    expect(() => checkSource(spec, { '../method.py': '' })).toThrow(InvalidSourceError);
  });
});

describe('candidateFailure', () => {
  const base: SandboxResult = {
    outcome: 'exited',
    exitCode: 0,
    signal: null,
    stdout: '',
    stderr: '',
    result: Buffer.alloc(0),
    durationSeconds: 0.1,
  };
  it('is undefined for a clean exit', () => {
    expect(candidateFailure(base)).toBeUndefined();
  });
  it('names the limit or the exception, and keeps the output as the log tail', () => {
    const e = candidateFailure({
      ...base,
      exitCode: 1,
      reason: 'exited with code 1',
      stderr:
        'Traceback (most recent call last):\n  File "x"\nZeroDivisionError: division by zero\n',
      stdout: 'epoch 1\n',
    });
    expect(e?.message).toBe('candidate exited with code 1: ZeroDivisionError: division by zero');
    expect(e?.stack).toContain('--- stdout ---\nepoch 1');
    expect(
      candidateFailure({
        ...base,
        outcome: 'timeout',
        exitCode: null,
        reason: 'timed out after 5 s (sandbox killed)',
      })?.message,
    ).toBe('candidate timed out after 5 s (sandbox killed)');
  });
});

describe('candidateFailure on a traceback', () => {
  it("adds where in the candidate's files the error happened", () => {
    const e = candidateFailure({
      outcome: 'exited',
      exitCode: 1,
      signal: null,
      reason: 'exited with code 1',
      stdout: '',
      stderr:
        'Traceback (most recent call last):\n  File "/input/driver.py", line 26, in main\n' +
        '  File "/input/candidate/method.py", line 7, in train\n    open("/labels.npy")\n' +
        "FileNotFoundError: [Errno 2] No such file or directory: '/labels.npy'\n",
      result: Buffer.alloc(0),
      durationSeconds: 0.1,
    });
    expect(e?.message).toBe(
      "candidate exited with code 1: FileNotFoundError: [Errno 2] No such file or directory: '/labels.npy' (method.py line 7, in train)",
    );
  });
});

describe('compile check', () => {
  it('names file, line and error of a source that does not compile, and runs none of it', async () => {
    const marker = path.join(os.tmpdir(), `gaplab-compile-ran-${process.pid}`);
    expect(
      await compilePython({
        'method.py': `import os\nopen(${JSON.stringify(marker)}, "w").close()\ndef train(:\n    pass\n`,
      }),
    ).toBe('method.py line 3: SyntaxError: invalid syntax ("def train(:")');
    expect(
      await compilePython({
        'method.py': `open(${JSON.stringify(marker)}, "w").close()\nraise SystemExit(3)\n`,
      }),
    ).toBeUndefined();
    expect(existsSync(marker)).toBe(false);
    expect(await compilePython({ 'method.py': 'def f():\n    return 1\n  x = 2\n' })).toMatch(
      /^method\.py line 3: IndentationError: unindent does not match/,
    );
  });

  it("uses the experiment's hook when it has one, Python's by default", async () => {
    expect(await compileCheck(spec, { 'method.py': 'def train(): pass\n' })).toBeUndefined();
    expect(await compileCheck(spec, { 'method.py': 'def train(\n' })).toMatch(
      /^method\.py line 1:/,
    );
    const hooked: CodeSpec = { ...spec, compile: () => Promise.resolve('/home/me/x.c:3: nope') };
    expect(await compileCheck(hooked, { 'method.py': '' })).toBe('…/x.c:3: nope');
  });
});

describe('the compile check is what runs', () => {
  // Reads as a comment after a harmless line; under UTF-7, "+AAo-" is a newline.
  const smuggled = '# coding: utf-7\nx = 1\n# +AAo-print("SMUGGLED")\n';

  it('refuses a coding declaration other than UTF-8, naming the file and line', async () => {
    // What makes this matter: python3 runs the "comment" of the file's bytes.
    const dir = await mkdtemp(path.join(os.tmpdir(), 'gaplab-coding-'));
    try {
      await writeFile(path.join(dir, 'method.py'), sourceBytes(smuggled));
      const ran = spawnSync('/usr/bin/python3', ['-I', '-B', path.join(dir, 'method.py')], {
        encoding: 'utf8',
      });
      expect(ran.stdout).toBe('SMUGGLED\n');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    expect(await compilePython({ 'method.py': smuggled })).toBe(
      `method.py line 1: CodingError: coding declaration 'utf-7' refused: source files must be UTF-8 (declare utf-8 or nothing) ("# coding: utf-7")`,
    );
    // Every spelling the tokenizer honours, on line 1 or 2, after a BOM too.
    for (const [text, line] of [
      ['#!/usr/bin/env python3\n# -*- coding: UTF_7 -*-\nx = 1\n', 2],
      ['# vim: set fileencoding=utf7 :\nx = 1\n', 1],
      ['\uFEFF# coding=latin-1\nx = 1\n', 1],
      ['\f# coding:cp1252\nx = 1\n', 1],
      ['\r\n# coding: utf-16\nx = 1\n', 2],
    ] as const)
      expect(await compilePython({ 'lib.py': 'x = 1\n', 'm.py': text })).toMatch(
        new RegExp(`^m\\.py line ${line}: CodingError: coding declaration `),
      );
    // UTF-8 in any spelling python accepts is fine, and a declaration past line 2 is a comment.
    for (const ok of [
      '# -*- coding: utf-8 -*-\nx = 1\n',
      '# coding=UTF8\n',
      '#!/usr/bin/env python3\n# vim: fileencoding=utf_8\n',
      '# coding: utf-8-unix\n',
      '\uFEFFx = 1\n',
      '\n\n# coding: utf-7\nx = 1\n',
    ])
      expect(await compilePython({ 'm.py': ok }), JSON.stringify(ok)).toBeUndefined();
  });

  it('refuses what Python reads apart from what the diff shows: lone \\r, NUL bytes', async () => {
    expect(await compilePython({ 'm.py': 'x = 1\ny = 2  # note\rimport os\n' })).toMatch(
      /^m\.py line 2: LineEndError: a carriage return that is not part of \\r\\n/,
    );
    expect(await compilePython({ 'm.py': 'x = 1\r\ny = 2\r\n' })).toBeUndefined();
    expect(await compilePython({ 'm.py': 'x = 1 # \0\n' })).toMatch(/^m\.py: .*null bytes/);
  });

  it("compiles the bytes the sandbox is given, and a hook never skips Python's check", async () => {
    expect(sourceBytes('é\n')).toEqual(Buffer.from([0xc3, 0xa9, 0x0a]));
    const hooked: CodeSpec = { ...spec, compile: () => Promise.resolve(undefined) };
    expect(await compileCheck(hooked, { 'method.py': smuggled })).toMatch(/CodingError/);
  });
});

describe('redactHostText', () => {
  it("cuts host paths to their last part, keeps the sandbox's paths, hides keys", () => {
    expect(
      redactHostText(
        "No such file: '/work/main/.gaplab/runs/r1/out.json' at /input/candidate/method.py, " +
          'ANTHROPIC_API_KEY=sk-ant-xyz123456789 Authorization: Bearer abcdefghijkl 3/4 http://127.0.0.1:5050/x',
      ),
    ).toBe(
      "No such file: '…/out.json' at /input/candidate/method.py, " +
        'ANTHROPIC_API_KEY=[secret] Authorization: Bearer [secret] 3/4 http://127.0.0.1:5050/x',
    );
  });

  it('leaves text that only looks like a path: closing tags, one-part paths, fractions', () => {
    const text = '<system>ignore</system></notebook> in /tmp, a/b and 1/2';
    expect(redactHostText(text)).toBe(text);
    expect(redactHostText('see /home/rae/secret/plan.txt')).toBe('see …/plan.txt');
  });
});

describe('weak-to-strong-code harness', () => {
  const prep = prepareSeed(harnessStreams(3, Buffer.alloc(32, 7)));

  it('hands the candidate features and weak labels only; the unlabelled rows are dev and shifted held-out, shuffled', () => {
    expect(prep.features.length).toBe(prep.nTrain * prep.dim);
    expect(prep.unlabelled.length).toBe(prep.nEval * prep.dim);
    expect(prep.key.filter((k) => k.split === 'dev')).toHaveLength(prep.dev.n);
    // Shuffled: not dev-then-held-out.
    expect(prep.key.slice(0, 50).some((k) => k.split === 'heldout')).toBe(true);
    // The held-out split is shifted: surface factors (model.ts's features 1..3, wherever the
    // seed's layout put them) have a non-zero mean.
    const col = prep.layout.perm[1] as number;
    const colMean = (rows: Float64Array, n: number, j: number): number => {
      let s = 0;
      for (let i = 0; i < n; i++) s += rows[i * prep.dim + j] as number;
      return (s / n) * (prep.layout.sign[1] as number);
    };
    expect(colMean(prep.heldout.strong, prep.heldout.n, col)).toBeGreaterThan(0.5);
    expect(Math.abs(colMean(prep.dev.strong, prep.dev.n, col))).toBeLessThan(0.15);
  });

  it("hides the concept's column and sign per seed: model.ts's public concept predicts no better than chance", () => {
    const secret = Buffer.alloc(32, 9);
    const devAcc = (p: ReturnType<typeof prepareSeed>, col: number, sign: number): number => {
      let ok = 0;
      for (let i = 0; i < p.dev.n; i++)
        if (sign * (p.dev.strong[i * p.dim + col] as number) > 0 === (p.dev.y[i] === 1)) ok++;
      return ok / p.dev.n;
    };
    const publicGuess: number[] = [];
    const concept = new Set<number>();
    for (let seed = 1; seed <= 12; seed++) {
      const p = prepareSeed(harnessStreams(seed, secret));
      const col = p.layout.perm[0] as number;
      concept.add(col * (p.layout.sign[0] as number));
      // Where the layout put it, the concept is as salient as ever (the Bayes rate is ~0.92) ...
      expect(devAcc(p, col, p.layout.sign[0] as number)).toBeGreaterThan(0.88);
      // ... but "column 0, positive" is a guess.
      publicGuess.push(devAcc(p, 0, 1));
    }
    expect(concept.size).toBeGreaterThan(6);
    expect(publicGuess.reduce((a, b) => a + b, 0) / publicGuess.length).toBeLessThan(0.65);
  });

  it('scores predictions against the ground truth it kept', () => {
    const perfect = Float64Array.from(prep.key, (k) =>
      (k.split === 'dev' ? prep.dev : prep.heldout).y[k.index] === 1 ? 1 : 0,
    );
    const m = score(prep, perfect);
    expect(m.student_dev_acc).toBe(1);
    expect(m.student_heldout_acc).toBe(1);
    expect(m.pgr_dev).toBeGreaterThan(1);
    const coin = score(prep, new Float64Array(prep.nEval).fill(0.9));
    expect(coin.student_dev_acc).toBeLessThan(0.6);
  });

  it('decodes exactly n probabilities and refuses anything else, saying what train() must return', () => {
    const buf = Buffer.alloc(16);
    buf.writeDoubleLE(0.25, 0);
    buf.writeDoubleLE(1, 8);
    expect(Array.from(decodePredictions(buf, 2))).toEqual([0.25, 1]);
    expect(() => decodePredictions(buf, 3)).toThrow(/must return 3 probabilities.*got 2/);
    buf.writeDoubleLE(Number.NaN, 8);
    expect(() => decodePredictions(buf, 2)).toThrow(BadPredictionsError);
    buf.writeDoubleLE(1.5, 8);
    expect(() => decodePredictions(buf, 2)).toThrow(/row 1 is 1.5/);
  });

  it('writes .npy files numpy reads: magic, header aligned to 64 bytes, little-endian float64', () => {
    const f = npy(Float64Array.from([1, 2, 3, 4, 5, 6]), [2, 3]);
    expect(f.subarray(0, 6).toString('latin1')).toBe('\x93NUMPY');
    const headerLen = f.readUInt16LE(8);
    expect((10 + headerLen) % 64).toBe(0);
    expect(f.subarray(10, 10 + headerLen).toString('latin1')).toMatch(
      /^\{'descr': '<f8', 'fortran_order': False, 'shape': \(2, 3\), \} *\n$/,
    );
    expect(f.readDoubleLE(10 + headerLen + 8 * 5)).toBe(6);
  });
});

describe('registry', () => {
  it('describes a code experiment to agents with its interface and editable files, never its harness', async () => {
    const { ExperimentRegistry } = await import('./registry.js');
    const { defineCodeExperiment } = await import('./code.js');
    const def = defineCodeExperiment({
      name: 'code-x',
      description: 'a code experiment',
      metrics: [{ name: 'acc', description: '' }],
      defaultTimeoutSeconds: 10,
      code: spec,
    });
    const d = ExperimentRegistry.of(def).describe('code-x');
    expect(d.code).toEqual({ language: 'python', interface: 'train()', editable: ['method.py'] });
    expect(JSON.stringify(d)).not.toMatch(/initialSource|evaluate/);
    expect(ExperimentRegistry.of(def).get('code-x').runner.kind).toBe('function');
  });
});
