/** gaplab's pure domain module: schemas, statistics, PGR, search spaces, parsing and budgets. Safe in workflow code. */
export * from './schemas.js';
export * from './strategy.js';
export * from './errors.js';
export * from './stats.js';
export * from './pgr.js';
export * from './scoring.js';
export * from './space.js';
export * from './parse.js';
export * from './budget.js';
export * from './proposal-audit.js';
export * from './campaign.js';
export * from './verdict.js';
export * from './format.js';
