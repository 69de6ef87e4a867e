/**
 * The report as one self-contained HTML page: no script, no font, no stylesheet or image from
 * anywhere else. Each figure is the SVG the plotting stack draws (Vega → SVG, as every command's
 * --plot) embedded as a data: URI image — an image is its own document, so the ids inside one SVG
 * (clip paths, the colour bar's gradient) can never resolve into another, and an image loads
 * nothing. A Content-Security-Policy allowing only inline styles and data: images makes any
 * reference that might still slip in fail in the browser instead of fetching.
 */
import { resolve } from 'node:path';
import { RiverbedError } from '../errors.js';
import { renderSvg, svgToPng } from '../plot/index.js';
import { renderVegaSvg } from '../plot/surface.js';
import { VERSION } from '../version.js';
import type { RunContents } from './collect.js';
import { type Figure, type Section, type Table, fmt } from './model.js';

/** The JSON of one file shown whole up to this many characters (the rest is in the file): a 1 001 × 1 001 grid fits. */
export const RAW_CHARS_MAX = 64 * 2 ** 20;
/** Above this the JSON is shown without indentation. */
const RAW_INDENTED_MAX = 2 ** 20;
/** Figures whose SVG is longer than this are embedded as PNG (resvg, as the commands' --plot PNGs). */
export const SVG_CHARS_MAX = 1024 * 1024;
/** Rows of the file list shown (a run with thousands of checkpoints lists the first ones). */
const FILES_SHOWN = 2000;

export const CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'";

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

const STYLE = `
body{font-family:'DejaVu Sans',Helvetica,Arial,sans-serif;margin:0;color:#222;background:#fafafa;line-height:1.45}
header,main{max-width:1560px;margin:0 auto;padding:0 24px}
header{padding-top:20px}
h1{font-size:22px;margin:0 0 4px}
h2{font-size:18px;margin:0 0 4px;padding-top:8px}
.meta,.file{color:#555;font-size:13px;margin:0 0 8px}
nav ol{margin:8px 0 16px;padding-left:22px;font-size:14px}
section{background:#fff;border:1px solid #e3e3e3;border-radius:6px;margin:0 0 22px;padding:12px 20px 16px}
.figures{display:flex;flex-wrap:wrap;gap:14px;margin:10px 0}
figure{margin:0;border:1px solid #eee;background:#fff;padding:4px}
figure img{display:block;max-width:100%;height:auto}
figcaption{font-size:12px;color:#666;padding:2px 4px 0}
table{border-collapse:collapse;margin:10px 0 14px;font-size:13px}
caption{text-align:left;font-weight:bold;padding:0 0 4px;font-size:13px}
th,td{border-bottom:1px solid #e6e6e6;padding:3px 10px;vertical-align:top}
th{background:#f3f3f3;text-align:left}
table.num td{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
table.num td:first-child{text-align:left}
table.kv td:last-child{word-break:break-word;max-width:820px}
.scroll{overflow-x:auto}
details{margin:8px 0 0;font-size:13px}
details.table summary{font-weight:bold}
pre{background:#f6f6f6;padding:8px;max-height:420px;overflow:auto;font-size:12px;white-space:pre-wrap;word-break:break-all}
.note{color:#8a4b00;font-size:13px}
`;

/** The SVG's own width and height (Vega writes both on the root element). */
function svgSize(svg: string): { width: number; height: number } {
  const root = /<svg\b[^>]*>/.exec(svg)?.[0] ?? '';
  const num = (name: string) => Number(new RegExp(`\\b${name}="([\\d.]+)"`).exec(root)?.[1] ?? NaN);
  return { width: Math.round(num('width')) || 600, height: Math.round(num('height')) || 400 };
}

async function figureHtml(fig: Figure, file: string): Promise<string> {
  let svg: string;
  try {
    // Line charts a little smaller than a command's --plot, so that two sit side by side; never
    // shorter than the rotated y-axis title (≈ 9 px a character), which would push the plot down.
    svg = 'spec' in fig ? await renderVegaSvg(fig.spec) : await renderSvg({ width: 380, height: Math.max(240, Math.ceil(9 * fig.line.yLabel.length)), ...fig.line });
  } catch (e) {
    if (e instanceof RiverbedError && e.file === undefined) throw new RiverbedError(e.code, `figure "${fig.title}": ${e.message}`, { file });
    throw e;
  }
  const { width, height } = svgSize(svg);
  // A figure of thousands of marks (a fine grid's cells) is smaller and faster as pixels.
  const uri = svg.length > SVG_CHARS_MAX ? `data:image/png;base64,${Buffer.from(svgToPng(svg)).toString('base64')}` : `data:image/svg+xml;base64,${Buffer.from(svg, 'utf8').toString('base64')}`;
  return `<figure><img src="${uri}" width="${width}" height="${height}" alt="${esc(fig.title)}"><figcaption>${esc(fig.title)}</figcaption></figure>`;
}

/** Tables longer than this are folded (a 61-point curve, a run's checkpoints): the caption opens them. */
const ROWS_OPEN = 24;

function tableHtml(t: Table): string {
  const numeric = t.numeric !== false && t.head.length > 2 ? 'num' : t.head.length === 2 ? 'kv' : '';
  const cell = (c: Table['rows'][number][number]) => `<td>${esc(fmt(c))}</td>`;
  const table = `<div class="scroll"><table class="${numeric}"><caption>${esc(t.caption)}</caption><thead><tr>${t.head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${t.rows.map((r) => `<tr>${r.map(cell).join('')}</tr>`).join('')}</tbody></table></div>`;
  return t.rows.length > ROWS_OPEN ? `<details class="table"><summary>${esc(t.caption)} (${t.rows.length} rows)</summary>${table}</details>` : table;
}

function rawHtml(file: string, json: unknown): string {
  let text = JSON.stringify(json, null, 1);
  if (text.length > RAW_INDENTED_MAX) text = JSON.stringify(json); // a large grid: compact
  const cut = text.length > RAW_CHARS_MAX;
  if (cut) text = text.slice(0, RAW_CHARS_MAX);
  return `<details><summary>Every field of ${esc(file)} (the JSON${cut ? `, its first ${RAW_CHARS_MAX.toLocaleString('en')} characters` : ''})</summary><pre>${esc(text)}${cut ? '\n…' : ''}</pre></details>`;
}

async function sectionHtml(s: Section, id: string): Promise<string> {
  const parts = [`<section id="${id}"><h2>${esc(s.title)}</h2><p class="file">${esc(s.file)} · ${esc(s.format)}</p>`];
  if (s.summary) parts.push(`<p>${esc(s.summary)}</p>`);
  if (s.figures.length > 0) parts.push(`<div class="figures">${(await Promise.all(s.figures.map((f) => figureHtml(f, s.file)))).join('')}</div>`);
  for (const n of s.notes ?? []) parts.push(`<p class="note">${esc(n)}</p>`);
  for (const t of s.tables) if (t.rows.length > 0) parts.push(tableHtml(t));
  for (const r of s.raw ?? []) parts.push(rawHtml(r.file, r.json));
  parts.push('</section>');
  return parts.join('\n');
}

export interface HtmlInput {
  title: string;
  input: string;
  sections: Section[];
  contents: RunContents;
  ignored: { rel: string; why: string }[];
}

export async function renderHtml(r: HtmlInput): Promise<string> {
  const shown = new Map<string, string>();
  r.sections.forEach((s, i) => {
    for (const u of s.uses ?? []) shown.set(resolve(u.path), `section ${i + 1}: ${u.how}`);
    for (const raw of s.raw ?? [{ file: s.file }]) shown.set(resolve(raw.file), `section ${i + 1}`);
  });
  const why = new Map(r.ignored.map((i) => [i.rel, i.why]));
  const files = r.contents.files.slice(0, FILES_SHOWN).map((f) => [f.rel, fmt(f.bytes), shown.get(resolve(f.path)) ?? why.get(f.rel) ?? '']);
  const figures = r.sections.reduce((a, s) => a + s.figures.length, 0);
  const body = await Promise.all(r.sections.map((s, i) => sectionHtml(s, `s${i + 1}`)));
  const fileTable = tableHtml({ caption: `${r.contents.files.length} file${r.contents.files.length === 1 ? '' : 's'}${r.contents.files.length > FILES_SHOWN ? ` (the first ${FILES_SHOWN} listed)` : ''}`, head: ['file', 'bytes', 'shown in'], rows: files });
  const skipped = r.contents.skipped.map((s) => `<p class="note">${esc(s.rel)}/ left out: ${esc(s.why)}</p>`).join('');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="riverbed ${esc(VERSION)}">
<title>${esc(r.title)}</title>
<style>${STYLE}</style>
</head>
<body>
<header>
<h1>${esc(r.title)}</h1>
<p class="meta">riverbed ${esc(VERSION)} · ${r.sections.length} section${r.sections.length === 1 ? '' : 's'}, ${figures} figure${figures === 1 ? '' : 's'} · one file, works offline</p>
<nav><ol>${r.sections.map((s, i) => `<li><a href="#s${i + 1}">${esc(s.title)}</a> <span class="meta">${esc(s.file)}</span></li>`).join('')}<li><a href="#files">Files in the run directory</a></li></ol></nav>
</header>
<main>
${body.join('\n')}
<section id="files"><h2>Files in the run directory</h2><p class="file">${esc(r.contents.dir)}</p>${fileTable}${skipped}</section>
</main>
</body>
</html>
`;
}
