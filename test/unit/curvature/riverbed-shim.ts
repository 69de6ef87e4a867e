/** What docs/curvature.md imports from 'riverbed': the public API from the sources (the docs test maps the name here). */
export * from '../../../src/index.js';
