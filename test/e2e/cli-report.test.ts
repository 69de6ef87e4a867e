/**
 * `riverbed report RUN_DIR` end to end, on run directories the CLI itself writes (train --record
 * with weight checkpoints and probes; landscape slice, interpolate, curve, trajectory; hessian
 * --density) and on the evaluation results committed under docs/results (coreset evaluate,
 * unlearn evaluate — written before unlearning.json had a format field — and continual):
 *  - the page is one self-contained file: no script, no external reference, every figure a data:
 *    URI SVG that is a whole SVG document;
 *  - the numbers shown are the files' numbers (barrier, centre loss, cosine, eigenvalues, accuracy
 *    cells), and the per-checkpoint means equal those computed here from the run's .npy files;
 *  - bad input (empty or unknown directory, malformed JSON, a wrong field) is one line naming the
 *    file and field, exit 2, nothing written;
 *  - in a real headless browser (Debian's chromium through puppeteer-core): every image decoded
 *    with a size, each image and the page not blank (pixel variance), no console error, no request
 *    beyond the page itself. Without chromium the browser test is skipped with the reason; with
 *    CI=true a missing chromium fails.
 */
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JsBackend } from '../../src/backends/js/index.js';
import { readNpy, writeNpy } from '../../src/io/npy.js';
import { mlpDescription } from '../../src/model/description.js';
import { Mlp } from '../../src/model/mlp.js';
import { type CliRun as Run, riverbedAsyncIn as riverbed } from '../helpers/cli-run.js';
import { docsBlocks, runShBlocksAsync } from '../helpers/docs-examples.js';
import { ROOT, requireBuiltCli } from './cli.js';

const ok = (r: Run) => expect(r.code, r.stderr + r.stdout).toBe(0);
function expectOneLineError(r: Run, code: string, ...parts: string[]): void {
  expect(r.code, r.stderr).toBe(2);
  expect(r.stdout).toBe('');
  expect(r.stderr).toMatch(/^riverbed: error \[E_[A-Z]+\] [^\n]*\n$/);
  expect(r.stderr).toContain(`[${code}]`);
  for (const p of parts) expect(r.stderr).toContain(p);
}

let dir: string;
const N = 90;
const DATA = ['--inputs', 'x.npy', '--labels', 'y.npy', '--backend', 'js'];
const json = (f: string) => JSON.parse(readFileSync(join(dir, f), 'utf8'));
/** The table cell text the report prints for a number (src/report/model.ts fmt, restated). */
const cell = (x: number) => `<td>${String(Number(x.toPrecision(6)))}</td>`;

beforeAll(async () => {
  requireBuiltCli();
  dir = mkdtempSync(join(tmpdir(), 'riverbed-e2e-report-'));
  // Three classes a 6-10-3 MLP can learn in a few epochs.
  const x = Float32Array.from({ length: N * 6 }, (_, i) => Math.sin(i * 0.37) + 0.1 * Math.cos(i) + (i % 6 === Math.floor(i / 6) % 3 ? 1 : 0));
  writeNpy(join(dir, 'x.npy'), x, [N, 6]);
  writeNpy(join(dir, 'y.npy'), BigInt64Array.from({ length: N }, (_, i) => BigInt(i % 3)), [N]);
  const desc = mlpDescription(6, [10], 3, 'tanh');
  writeFileSync(join(dir, 'model.json'), JSON.stringify(desc));
  const be = new JsBackend();
  await Mlp.init(be, desc, 1).save(join(dir, 'a.safetensors'));
  await Mlp.init(be, desc, 2).save(join(dir, 'b.safetensors'));
  const steps = [
    ['train', ...DATA, '--hidden', '10', '--epochs', '5', '--batch-size', '16', '--record', 'all/run', '--checkpoints', '1', '--probe', 'loss:every=5,gradnorm:every=5,sharpness:every=10'],
    ['landscape', 'slice', '--weights', 'a.safetensors', ...DATA, '--grid', '9x7', '--out', 'all/land/slice.json'],
    ['landscape', 'interpolate', 'a.safetensors', 'b.safetensors', ...DATA, '--out', 'all/land/line.json'],
    ['landscape', 'curve', 'a.safetensors', 'b.safetensors', ...DATA, '--epochs', '2', '--out', 'all/land/curve.json'],
    ['landscape', 'trajectory', 'all/run', ...DATA, '--grid', '7x7', '--out', 'all/land/traj.json'],
    ['train', ...DATA, '--hidden', '10', '--epochs', '3', '--batch-size', '16', '--run', 'all/ckpt'],
    ['coreset', 'random', '--run', 'all/run', '--fraction', '0.5', '--out', 'all/sel/selection.json'],
    ['hessian', '--model', 'model.json', '--weights', 'a.safetensors', ...DATA, '--top-k', '2', '--trace', '--density', '--density-probes', '2', '--density-steps', '20', '--out', 'all/land/hessian.json'],
  ];
  for (const sub of ['land', 'sel']) mkdirSync(join(dir, 'all', sub), { recursive: true });
  for (const s of steps) ok(await riverbed(dir, ...s, ...(s[0] === 'train' || s[0] === 'hessian' ? [] : ['--json'])));
  // The evaluation harnesses' committed results (their runs take minutes to hours).
  for (const [from, to] of [['mnist', 'ev'], ['unlearning/mnist-class-3', 'unl'], ['continual/permuted-5', 'cont']]) cpSync(join(ROOT, 'docs/results', from!), join(dir, 'all', to!), { recursive: true });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The images of a page: [alt, decoded SVG text]. */
function images(html: string): [string, string][] {
  return [...html.matchAll(/<img src="data:image\/svg\+xml;base64,([A-Za-z0-9+/=]+)"[^>]*alt="([^"]*)"/g)].map((m) => [m[2]!, Buffer.from(m[1]!, 'base64').toString('utf8')]);
}

describe('riverbed report', () => {
  it('a run directory of every kind: one self-contained page with every section, figure and number', async () => {
    const r = await riverbed(dir, 'report', 'all', '--out', 'all.html', '--json');
    ok(r);
    const summary = JSON.parse(r.stdout);
    const formats = summary.sections.map((s: { format: string }) => s.format);
    expect(formats).toEqual([
      'riverbed.trajectory', 'riverbed.checkpoint', 'riverbed.probes',
      'riverbed.landscape', 'riverbed.landscape', 'riverbed.landscape', 'riverbed.landscape',
      'riverbed.hessian', 'riverbed.evaluation', 'riverbed.unlearn-evaluation', 'riverbed.continual', 'riverbed.selection',
    ]);
    const figures = Object.fromEntries(summary.sections.map((s: { file: string; figures: number }) => [s.file.replace(/^all\//, ''), s.figures]));
    // epoch loss, mean loss, accuracy, learning rate | checkpoints: epoch loss, learning rate | probes:
    // loss, accuracy, gradNorm, lambdaMax | 2-D: loss and accuracy surfaces; 1-D: one curve chart |
    // density | harness plots | a selection: tables only
    expect(figures).toEqual({
      'run/trajectory.json': 4, 'ckpt/checkpoints/step-*/state.json (3 states)': 2, 'run/probes.json': 4, 'land/slice.json': 2, 'land/line.json': 1, 'land/curve.json': 1, 'land/traj.json': 2,
      'land/hessian.json': 1, 'ev/evaluation.json': 1, 'unl/unlearning.json': 1, 'cont/continual.json': 2, 'sel/selection.json': 0,
    });
    const html = readFileSync(join(dir, 'all.html'), 'utf8');
    // Self-contained: nothing outside the file is named, nothing runs.
    expect(html).not.toMatch(/https?:\/\//i);
    expect(html).not.toMatch(/<script|<link|<iframe|<object|<embed|@import|url\(/i);
    expect(html).not.toMatch(/\s(?:src|href)="(?!data:image\/svg\+xml;base64,|#)/);
    const imgs = images(html);
    expect(imgs).toHaveLength(21);
    for (const [alt, svg] of imgs) {
      expect(svg, alt).toMatch(/^<svg [^>]*width="\d+(\.\d+)?" height="\d+(\.\d+)?"/);
      expect(svg.trimEnd().endsWith('</svg>'), alt).toBe(true);
      // An image loads nothing anyway; the SVG names nothing outside itself but its namespaces.
      expect(svg.replace(/xmlns(:xlink)?="http:\/\/www\.w3\.org\/(2000\/svg|1999\/xlink)"/g, ''), alt).not.toMatch(/https?:|href="(?!#)/);
    }
    // Every file of the directory is listed.
    for (const f of ['run/train_loss.npy', 'run/checkpoints/epoch-0005.safetensors', 'land/slice.loss.npy', 'ev/evaluation.png', 'cont/continual.json']) expect(html).toContain(`<td>${f}</td>`);
  });

  it('shows the numbers of the files: barrier, centre, cosine, eigenvalues, accuracies', async () => {
    const html = readFileSync(join(dir, 'all.html'), 'utf8');
    const line = json('all/land/line.json');
    expect(html).toContain(`<td>barrier</td>${cell(line.barrier.loss)}`);
    const curve = json('all/land/curve.json');
    expect(html).toContain(`<td>barrier of the Bézier curve</td>${cell(curve.barrier.loss)}`);
    expect(html).toContain(`<td>barrier of the straight line</td>${cell(curve.line.barrier.loss)}`);
    const slice = json('all/land/slice.json');
    expect(html).toContain(`<td>loss at the centre (the model itself)</td>${cell(slice.center.loss)}`);
    expect(html).toContain(`<td>cosine of the two directions before orthogonalisation</td>${cell(slice.directions.cosine)}`);
    // The 1-D table: every point of the line with its loss.
    line.loss[0].forEach((l: number, i: number) => expect(html).toContain(`${cell(line.axes.x.values[i])}${cell(l)}`));
    const traj = json('all/land/traj.json');
    expect(html).toContain(`<td>variance explained by the PCA directions</td><td>${traj.directions.explained.map((e: number) => `${(100 * e).toFixed(2)} %`).join(', ')}</td>`);
    const hess = json('all/land/hessian.json');
    expect(html).toContain(`<td>top 1</td>${cell(hess.eigenvalues[0])}`);
    expect(html).toContain(`<td>trace (hutch++)</td>${cell(hess.trace.estimate)}`);
    const ev = JSON.parse(readFileSync(join(ROOT, 'docs/results/mnist/evaluation.json'), 'utf8'));
    const c = ev.source.cells.find((x: { method: string; fraction: number }) => x.method === 'cld' && x.fraction === 0.01);
    expect(html).toContain(`<td>cld</td><td>${(100 * c.summary.mean).toFixed(2)} ± ${(100 * c.summary.std).toFixed(2)}</td>`);
    const unl = JSON.parse(readFileSync(join(ROOT, 'docs/results/unlearning/mnist-class-3/unlearning.json'), 'utf8'));
    const rt = unl.rows.find((x: { method: string }) => x.method === 'retrain').summary;
    expect(html).toContain(`<td>retrain</td><td>${rt.ua.mean.toFixed(2)} ± ${rt.ua.std.toFixed(2)}</td><td>${rt.ra.mean.toFixed(2)} ± ${rt.ra.std.toFixed(2)}</td>`);
    const cont = JSON.parse(readFileSync(join(ROOT, 'docs/results/continual/permuted-5/continual.json'), 'utf8'));
    const m0 = cont.methods[0];
    const af = cont.runs.filter((x: { method: string }) => x.method === m0).map((x: { averageFinal: number }) => x.averageFinal);
    const mean = af.reduce((a: number, b: number) => a + b, 0) / af.length;
    expect(html).toContain(`<td>${m0}</td><td>${(100 * mean).toFixed(1)} ± `);
    // train --run: one row per checkpoint state, in step order.
    const states = readdirSync(join(dir, 'all/ckpt/checkpoints')).sort().map((n) => json(`all/ckpt/checkpoints/${n}/state.json`));
    expect(states).toHaveLength(3);
    for (const st of states) expect(html).toContain(`<tr><td>${st.step}</td><td>${st.epoch}</td><td>${st.position}</td><td>${st.epochLoss.length}</td>${st.epochLoss.length ? cell(st.epochLoss.at(-1)) : '<td>—</td>'}`);
    // A format without pictures: its fields.
    const sel = json('all/sel/selection.json');
    expect(html).toContain(`<td>selected</td><td>${sel.selected}</td>`);
    // The run manifest is there.
    expect(html).toContain(`<td>${ev.manifest.inputs?.[0]?.path ?? 'riverbed'}</td>`);
    expect(html).toContain('Run manifest');
  });

  it('per-checkpoint means equal the run’s .npy files averaged here', async () => {
    const html = readFileSync(join(dir, 'all.html'), 'utf8');
    const m = json('all/run/trajectory.json');
    const loss = await readNpy(join(dir, 'all/run/train_loss.npy'));
    const correct = await readNpy(join(dir, 'all/run/val_correct.npy'));
    const n = m.train.samples as number;
    const v = m.val.samples as number;
    m.checkpoints.forEach((cp: number | string, k: number) => {
      let s = 0;
      for (let i = 0; i < n; i++) s += Number(loss.data[k * n + i]);
      let a = 0;
      for (let i = 0; i < v; i++) a += Number(correct.data[k * v + i]);
      expect(html).toContain(`<tr><td>${cp}</td>${cell(s / n)}`);
      expect(html).toMatch(new RegExp(`<td>${(100 * (a / v)).toFixed(2)} %</td><td>[^<]+</td><td>[^<]+</td></tr>`));
    });
  });

  it('defaults to RUN_DIR.html beside the directory; one result file is a run too', async () => {
    ok(await riverbed(dir, 'report', 'all/land'));
    expect(existsSync(join(dir, 'all/land.html'))).toBe(true);
    const r = await riverbed(dir, 'report', 'all/land/line.json', '--out', 'line.html', '--json');
    ok(r);
    expect(JSON.parse(r.stdout).sections.map((s: { file: string }) => s.file)).toEqual(['all/land/line.json']);
  });

  it('non-finite numbers (null in JSON) are shown and drawn as gaps', async () => {
    const d = join(dir, 'nan');
    mkdirSync(d);
    const line = json('all/land/line.json');
    line.loss[0][3] = null;
    writeFileSync(join(d, 'line.json'), JSON.stringify(line));
    ok(await riverbed(dir, 'report', 'nan', '--out', 'nan.html'));
    expect(readFileSync(join(dir, 'nan.html'), 'utf8')).toContain(`${cell(line.axes.x.values[3])}<td>NaN</td>`);
  });

  it('a fine grid is drawn thinned, as PNG; the page keeps every number', async () => {
    const d = join(dir, 'fine');
    mkdirSync(d);
    const s = json('all/land/slice.json');
    const n = 301; // drawn: one point in 3 per axis (101 of 301, endpoints included)
    const ax = Array.from({ length: n }, (_, i) => -1 + (2 * i) / (n - 1));
    Object.assign(s, { axes: { x: { ...s.axes.x, values: ax }, y: { ...s.axes.y, values: ax } } });
    s.loss = ax.map((y) => ax.map((x) => 1 + x * x + 0.5 * y * y));
    s.accuracy = ax.map((y) => ax.map((x) => 0.9 - 0.2 * (x * x + y * y)));
    writeFileSync(join(d, 'slice.json'), JSON.stringify(s));
    ok(await riverbed(dir, 'report', 'fine', '--out', 'fine.html'));
    const html = readFileSync(join(dir, 'fine.html'), 'utf8');
    const pngs = [...html.matchAll(/<img src="data:image\/png;base64,([A-Za-z0-9+/=]+)"/g)].map((m) => Buffer.from(m[1]!, 'base64'));
    expect(pngs).toHaveLength(2);
    for (const p of pngs) expect(p.subarray(1, 4).toString('latin1')).toBe('PNG');
    expect(html).not.toContain('data:image/svg+xml');
    // Every number is in the page's copy of the JSON, the last corner included.
    expect(html).toContain(String(s.loss[n - 1][n - 1]));
    expect(html).toContain(`${JSON.stringify(s.accuracy.at(-1))}`.replace(/^\[/, '').replace(/\]$/, ''));
    expect(html).toContain(`The ${n}×${n} grid is drawn at 101×101 points (one in 3)`);
  });

  describe('bad input: one line naming the file and field, exit 2, nothing written', () => {
    const bad = async (name: string, files: Record<string, string>, code: string, ...parts: string[]) => {
      const d = join(dir, 'bad', name);
      mkdirSync(d, { recursive: true });
      for (const [f, text] of Object.entries(files)) {
        mkdirSync(join(d, f, '..'), { recursive: true });
        writeFileSync(join(d, f), text);
      }
      const r = await riverbed(dir, 'report', d, '--out', join(dir, 'bad', `${name}.html`));
      expectOneLineError(r, code, ...parts.map((p) => p.replace('$D', d)));
      expect(existsSync(join(dir, 'bad', `${name}.html`))).toBe(false);
      expect(readdirSync(join(dir, 'bad')).filter((n) => n.endsWith('.html') || n.includes('.tmp'))).toEqual([]);
    };
    const line = () => json('all/land/line.json');
    it('an empty directory', () => bad('empty', {}, 'E_ARG', '$D: format: is empty'));
    it('a directory of JSON that is no riverbed result', () => bad('other', { 'package.json': '{"name": "x"}', 'm.json': JSON.stringify({ format: 'something.else' }) }, 'E_ARG', '$D: format: holds no riverbed result'));
    it('JSON that does not parse', () => bad('parse', { 'line.json': '{"format": "riverbed.landscape", ' }, 'E_FORMAT', '$D/line.json: json: does not parse'));
    it('a loss row of the wrong length', () => {
      const l = line();
      l.loss[0].pop();
      return bad('row', { 'line.json': JSON.stringify(l) }, 'E_FORMAT', '$D/line.json: loss[0]: has 30 entries, not 31');
    });
    it('a number that is a string', () => {
      const l = line();
      l.barrier.loss = '0.5';
      return bad('string', { 'line.json': JSON.stringify(l) }, 'E_FORMAT', '$D/line.json: barrier.loss: is a string, not a number');
    });
    it('an unknown kind', () => bad('kind', { 'x.json': JSON.stringify({ ...line(), kind: 'sphere' }) }, 'E_FORMAT', '$D/x.json: kind'));
    it('a later version', () => bad('version', { 'x.json': JSON.stringify({ ...line(), version: 2 }) }, 'E_FORMAT', '$D/x.json: version: is 2'));
    it('a malformed file among good ones (deep in the directory)', () => bad('deep', { 'good.json': JSON.stringify(line()), 'sub/d/bad.json': '[1,' }, 'E_FORMAT', '$D/sub/d/bad.json: json'));
    it('a trajectory manifest whose .npy disagrees with it', () => {
      const d = join(dir, 'bad', 'npy');
      cpSync(join(dir, 'all/run'), d, { recursive: true });
      writeNpy(join(d, 'val_loss.npy'), new Float32Array(6), [2, 3]);
      return bad('npy', {}, 'E_FORMAT', '$D/val_loss.npy: shape: shape [2, 3] differs');
    });
    it('a missing directory', async () => {
      const r = await riverbed(dir, 'report', 'nowhere', '--out', 'nowhere.html');
      expectOneLineError(r, 'E_FILE', 'nowhere');
      expect(existsSync(join(dir, 'nowhere.html'))).toBe(false);
    });
  });
});

describe('docs/report.md', () => {
  it('runs as written and prints what it shows', async () => {
    const { md, blocks } = docsBlocks('report.md');
    expect(blocks.length).toBe(2);
    const d = join(dir, 'docs');
    mkdirSync(d);
    const r = await runShBlocksAsync(blocks, d, 600_000);
    expect(r.status, r.stderr + r.stdout).toBe(0);
    // The printed lines, less the sizes and the absolute path of the default output.
    const shown = /```\n(report of run:[^\n]*)\n(report of land:[^\n]*)\n```/.exec(md)!;
    for (const line of [shown[1]!, shown[2]!]) expect(r.stdout).toContain(line.replace(/ → .*/, ' → '));
    expect(existsSync(join(d, 'run.html'))).toBe(true);
    expect(existsSync(join(d, 'land.html'))).toBe(true);
    const land = readFileSync(join(d, 'land.html'), 'utf8');
    for (const f of ['slice.json', 'traj.json', 'line.json']) expect(land).toContain(`land/${f} · riverbed.landscape`);
  });
});

// ---- the page in a real browser -----------------------------------------------------------------

/** In the page (the test's tsconfig has no DOM types): mean and std of the luminance of each PNG. */
const LUMA_STATS = `async (pngs) => {
  const out = [];
  for (const b64 of pngs) {
    const img = new Image();
    img.src = 'data:image/png;base64,' + b64;
    await img.decode();
    const c = document.createElement('canvas');
    c.width = img.naturalWidth;
    c.height = img.naturalHeight;
    const g = c.getContext('2d');
    g.drawImage(img, 0, 0);
    const d = g.getImageData(0, 0, c.width, c.height).data;
    let s = 0, s2 = 0;
    const n = d.length / 4;
    for (let i = 0; i < d.length; i += 4) {
      const y = 0.299 * d[i] + 0.587 * d[i + 1] + 0.114 * d[i + 2];
      s += y;
      s2 += y * y;
    }
    out.push({ mean: s / n, std: Math.sqrt(Math.max(0, s2 / n - (s / n) ** 2)), w: c.width, h: c.height });
  }
  return out;
}`;

const CHROMIUM = process.env.RIVERBED_CHROMIUM ?? '/usr/bin/chromium';
const noBrowser = existsSync(CHROMIUM) ? undefined : `no chromium at ${CHROMIUM} (apt-get install chromium, or set RIVERBED_CHROMIUM)`;

describe('the report in headless chromium', () => {
  it('CI has a browser', () => {
    if (process.env.CI === 'true') expect(noBrowser, 'CI=true needs chromium for the report test').toBeUndefined();
  });

  it.skipIf(noBrowser !== undefined)(`every image renders, nothing is blank, no console error, no request${noBrowser ? ` (skipped: ${noBrowser})` : ''}`, async () => {
    const out = join(dir, 'browser.html');
    ok(await riverbed(dir, 'report', 'all', '--out', out));
    const { default: puppeteer } = await import('puppeteer-core');
    const browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run'] });
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      const requests: string[] = [];
      page.on('console', (m) => void (m.type() === 'error' || m.type() === 'warn' ? errors.push(`${m.type()}: ${m.text()}`) : undefined));
      page.on('pageerror', (e) => void errors.push(`page error: ${String(e)}`));
      page.on('requestfailed', (r) => void errors.push(`request failed: ${r.url().slice(0, 80)}`));
      page.on('request', (r) => void (r.url().startsWith('data:') ? undefined : requests.push(r.url())));
      await page.setViewport({ width: 1280, height: 900 });
      const url = `file://${resolve(out)}`;
      await page.goto(url, { waitUntil: 'load' });
      expect(requests, 'the page fetched something besides itself').toEqual([url]);
      // Every image decoded, with a size, and laid out with a size.
      const imgs = await page.$$eval('img', (els) => els.map((e) => ({ alt: e.alt, complete: e.complete, w: e.naturalWidth, h: e.naturalHeight, box: e.getBoundingClientRect().width * e.getBoundingClientRect().height })));
      expect(imgs).toHaveLength(21);
      for (const i of imgs) {
        expect(i.complete && i.w > 0 && i.h > 0, i.alt).toBe(true);
        expect(i.box, i.alt).toBeGreaterThan(10_000);
      }
      expect(await page.$$eval('svg', (els) => els.filter((e) => e.getBoundingClientRect().width * e.getBoundingClientRect().height === 0).length)).toBe(0);
      // Pixels: each image and the whole page, as screenshots, are not one flat colour.
      const shots: [string, string][] = [];
      for (const el of await page.$$('img')) shots.push([await el.evaluate((e) => (e as unknown as { alt: string }).alt), (await el.screenshot({ encoding: 'base64' })) as string]);
      shots.push(['the whole page', (await page.screenshot({ encoding: 'base64', fullPage: true })) as string]);
      const probe = await browser.newPage();
      const stats = (await probe.evaluate(`(${LUMA_STATS})(${JSON.stringify(shots.map((x) => x[1]))})`)) as { mean: number; std: number; w: number; h: number }[];
      stats.forEach((st, i) => {
        expect(st.w * st.h, shots[i]![0]).toBeGreaterThan(10_000);
        // A blank (all white) image has std 0; a chart of lines on white has tens of grey levels.
        expect(st.std, `${shots[i]![0]}: luminance std ${st.std.toFixed(2)} (mean ${st.mean.toFixed(1)})`).toBeGreaterThan(8);
      });
      if (process.env.RIVERBED_REPORT_SCREENSHOT) writeFileSync(process.env.RIVERBED_REPORT_SCREENSHOT, Buffer.from(shots.at(-1)![1], 'base64'));
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
    }
  });
});
