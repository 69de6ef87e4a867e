/** What docs/curvature.md imports from 'riverbed', taken from the sources (the docs test maps the name here). */
export * from '../../../src/curvature/index.js';
export { createBackend } from '../../../src/backends/select.js';
export { mlpDescription } from '../../../src/model/description.js';
export { Mlp } from '../../../src/model/mlp.js';
