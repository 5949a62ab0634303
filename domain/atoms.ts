/**
 * The small shapes every other schema is built from: slugs, names, parameter values,
 * configurations and actors. Pure: zod only.
 */
import { z } from 'zod';
// zod's messages in people's words, for every schema (it sets zod's error map once).
import './messages.js';

/** A slug used for problem ids, experiment names and configuration names. */
export const Slug = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[a-z0-9][a-z0-9._-]*$/, 'use lowercase letters, digits, ".", "_" and "-"');

/** A parameter or metric name. */
export const Name = z
  .string()
  .min(1)
  .max(64)
  .regex(
    /^[A-Za-z_][A-Za-z0-9_.-]*$/,
    'use letters, digits, "_", "." and "-", starting with a letter',
  );

export const FiniteNumber = z.number().refine(Number.isFinite, 'must be a finite number');

/**
 * A parameter's value, typed as its kind says: a float or an int is a number, a boolean a boolean,
 * a categorical choice the string or number it was declared as. Values keep this type everywhere
 * (workflow, API, MLflow record, UI): never a string standing for a number or a boolean.
 */
export const ParamValue = z.union([z.string().max(256), FiniteNumber, z.boolean()]);
export type ParamValue = z.infer<typeof ParamValue>;

/** Parameters of one configuration at most (as many as a search space may declare). */
export const MAX_PARAMS = 200;

/** A configuration: parameter name to typed value (a conditional parameter that is off is absent). */
export const Config = z
  .record(Name, ParamValue)
  .refine((c) => Object.keys(c).length <= MAX_PARAMS, `at most ${MAX_PARAMS} parameters`);
export type Config = z.infer<typeof Config>;

export const Actor = z.object({
  name: z.string().min(1).max(128),
  role: z.enum(['researcher', 'pi', 'viewer', 'system']),
});
export type Actor = z.infer<typeof Actor>;
