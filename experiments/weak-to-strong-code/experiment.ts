/**
 * Weak-to-strong as a code problem: the candidate writes the student's training method, the
 * harness (harness.ts) keeps the data and the ground truth and scores the predictions.
 *
 * Python with numpy: the language research agents and people write learning methods in, and
 * numpy is already in the project's environment; the system's python3 runs it inside the
 * sandbox with the venv's site-packages shown read-only (about 0.1 s of start-up per seed).
 */
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { PROJECT_ROOT } from '../../stack/paths.js';
import {
  CandidateError,
  candidateFailure,
  defineCodeExperiment,
  runPythonCandidate,
} from '../code.js';
import {
  BadPredictionsError,
  decodePredictions,
  EXPERIMENT,
  npy,
  prepareSeed,
  score,
} from './harness.js';

const DIR = path.join(PROJECT_ROOT, 'experiments', 'weak-to-strong-code');
const DRIVER = readFileSync(path.join(DIR, 'driver.py'), 'utf8');
const METHOD = readFileSync(path.join(DIR, 'candidate', 'method.py'), 'utf8');

export const INTERFACE = `Edit \`method.py\`. It must define

    train(features, weak_labels, unlabelled_features, params, rng) -> probabilities

- \`features\`: numpy float64 array (1000, 28), the strong student's representation of the
  training inputs (a fixed "pretrained" representation; the true concept is salient in it).
- \`weak_labels\`: (1000,) float64 in [0, 1], the weak supervisor's probability that y = 1 for
  each training input (it is about 71% accurate). No ground truth is given anywhere.
- \`unlabelled_features\`: (4000, 28) float64, the inputs to predict, in a shuffled order.
- \`params\`: dict of the trial's parameters (lr, epochs, l2 in the starting method).
- \`rng\`: numpy.random.Generator for the method's own randomness; draw all randomness from
  it. Its seed is the harness's, per seed: the same on every run of a seed, unrelated to the
  seed number and to the data.
- return: (4000,) probabilities that y = 1, one per row of \`unlabelled_features\`.

The harness scores the predictions against ground truth it keeps: student_dev_acc (the
objective) on the dev rows, and hidden metrics on other rows. Only numpy and the Python standard
library are available; there is no network, the only writable folders are the working
directory and /tmp, and a seed has 60 s of CPU and 2 GiB of memory. What train() prints is a
log line, never a metric.`;

export default defineCodeExperiment({
  name: EXPERIMENT,
  description:
    "Weak-to-strong generalisation where the method is code: write the strong student's training " +
    "method (Python, numpy) from a weak supervisor's soft labels and unlabelled inputs. Same data " +
    'as the weak-to-strong problem; the starting method trains a logistic regression on the weak ' +
    'labels to convergence and imitates the weak supervisor.',
  metrics: [
    {
      name: 'student_dev_acc',
      description: 'student accuracy on the dev split (ground truth kept by the harness)',
      direction: 'maximize',
    },
    {
      name: 'student_heldout_acc',
      description: 'student accuracy on a held-out split from a shifted distribution',
      direction: 'maximize',
    },
    { name: 'weak_dev_acc', description: 'weak supervisor accuracy on dev', direction: 'maximize' },
    {
      name: 'ceiling_dev_acc',
      description: 'strong model trained on ground truth, dev accuracy',
      direction: 'maximize',
    },
    {
      name: 'pgr_dev',
      description: "this seed's (student - weak) / (ceiling - weak) on dev",
      direction: 'maximize',
    },
    {
      name: 'pgr_heldout',
      description: "this seed's (student - weak) / (ceiling - weak) on the held-out split",
      direction: 'maximize',
    },
    {
      name: 'student_weak_agreement',
      description: 'share of dev examples where the student agrees with the weak supervisor',
    },
    { name: 'candidate_seconds', description: 'wall time of the sandboxed candidate' },
  ],
  defaultTimeoutSeconds: 120,
  code: {
    language: 'python',
    interface: INTERFACE,
    editable: ['method.py'],
    initialSource: { 'method.py': METHOD },
    async evaluate(source, params, ctx) {
      const prep = prepareSeed(ctx.random);
      const result = await runPythonCandidate({
        source,
        driver: DRIVER,
        inputs: {
          'features.npy': npy(prep.features, [prep.nTrain, prep.dim]),
          'weak_labels.npy': npy(prep.weakLabels, [prep.nTrain]),
          'unlabelled_features.npy': npy(prep.unlabelled, [prep.nEval, prep.dim]),
          // The candidate's own seed, never the harness's (see harness.ts).
          'call.json': JSON.stringify({ rng_seed: ctx.candidateSeed, params }),
        },
        limits: { cpuSeconds: 60, memoryBytes: 2 * 1024 ** 3, wallSeconds: 110 },
        signal: ctx.signal,
        ...(ctx.sandbox ? { sandbox: ctx.sandbox } : {}),
      });
      // The candidate's output (bounded tails) is kept with the seed for people, never parsed.
      await writeFile(path.join(ctx.outDir, 'candidate-stdout.log'), result.stdout);
      await writeFile(path.join(ctx.outDir, 'candidate-stderr.log'), result.stderr);
      const failure = candidateFailure(result);
      if (failure) throw failure;
      let predictions;
      try {
        predictions = decodePredictions(result.result, prep.nEval);
      } catch (err) {
        if (err instanceof BadPredictionsError)
          throw new CandidateError(err.message, result.stderr);
        throw err;
      }
      ctx.progress({ fraction: 1 });
      return { ...score(prep, predictions), candidate_seconds: result.durationSeconds };
    },
  },
});
