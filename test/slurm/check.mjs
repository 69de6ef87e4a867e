#!/usr/bin/env node
/**
 * The checks of `npm run test:slurm` (test/slurm/run.sh), one subcommand each; exit 1 with the
 * reason on the first difference.
 *
 *   check.mjs cld WORK        the Slurm merge of the CLD shards equals one in-memory run: the same
 *                             selection (indices, per-class counts, bytes of the indices .npy), and
 *                             every part's candidate r equal bit for bit to that run's --scores
 *   check.mjs landscape WORK  the Slurm merge of the landscape shards equals one in-memory run: the
 *                             same grid id and axes, loss and accuracy equal as float64 values and
 *                             as .npy bytes
 *   check.mjs kube WORK ROOT  examples/kubernetes/*.yaml: well-formed YAML (python3-yaml), Jobs of the
 *                             shape the docs describe, the same riverbed flags as the sbatch
 *                             scripts; then their container commands run here, one per completion
 *                             index as the indexed Job would, and the merge equals Slurm's
 *
 * Exactness: shards of both kinds are guaranteed bit-identical to one run on the same backend
 * (CLD: a per-sample kernel over 16-aligned slices; landscapes: every point's arithmetic is its
 * own — basis outputs per batch, its own pointCombine and GEMM, its own float64 sum — so how the
 * points are cut into chunks and shards cannot change a bit). The references run with
 * RIVERBED_THREADS=1 while the Slurm tasks use every core: parts merge across machines of any
 * core count only if the thread count changes no bit either.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const [cmd, WORK, ROOT] = process.argv.slice(2);
const failures = [];
const expect = (cond, what) => {
  if (!cond) failures.push(what);
};
const json = (p) => JSON.parse(readFileSync(p, 'utf8'));
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
/** Where two values differ, briefly (the first differing element of arrays). */
const where = (a, b) => {
  if (Array.isArray(a) && Array.isArray(b)) {
    const fa = a.flat(Infinity);
    const fb = b.flat(Infinity);
    const i = fa.findIndex((v, k) => !same(v, fb[k]));
    return `lengths ${fa.length}/${fb.length}, first difference at flat index ${i}: ${fa[i]} vs ${fb[i]}`;
  }
  return `${JSON.stringify(a)?.slice(0, 100)} vs ${JSON.stringify(b)?.slice(0, 100)}`;
};
const bytesEqual = (a, b) => Buffer.compare(readFileSync(a), readFileSync(b)) === 0;

/** The data of a little-endian .npy (version 1/2/3 header). */
function npyData(file) {
  const b = readFileSync(file);
  const major = b[6];
  const hlen = major === 1 ? b.readUInt16LE(8) : b.readUInt32LE(8);
  const start = (major === 1 ? 10 : 12) + hlen;
  const header = b.subarray(major === 1 ? 10 : 12, start).toString('latin1');
  return { header, data: b.subarray(start) };
}

function checkCld() {
  const merged = json(join(WORK, 'cld', 'selection.json'));
  const whole = json(join(WORK, 'ref', 'cld-whole.json'));
  expect(merged.format === 'riverbed.selection' && whole.format === 'riverbed.selection', 'both are riverbed.selection files');
  expect(merged.parameters.shards > 1, `the merge says it merged ${merged.parameters.shards} shards`);
  expect(merged.selected > 0, 'something is selected');
  for (const k of ['n', 'numClasses', 'selected', 'perClass', 'absentClasses', 'backend', 'indices']) {
    expect(same(merged[k], whole[k]), `selection field ${k}, merged vs one run: ${where(merged[k], whole[k])}`);
  }
  expect(bytesEqual(join(WORK, 'cld', 'selection.npy'), join(WORK, 'ref', 'cld-whole.npy')), 'the indices .npy files differ');
  // Every part kept every score of its slice (no budget at shard time): compare the bits of r.
  const { header, data } = npyData(join(WORK, 'ref', 'cld-scores.npy'));
  expect(header.includes("'<f4'"), `the --scores file is float32 (${header})`);
  const wholeBits = new Uint32Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
  const dir = join(WORK, 'cld', 'parts');
  const parts = readdirSync(dir).filter((f) => /^part-\d+\.json$/.test(f));
  expect(parts.length === merged.parameters.shards, `${parts.length} part files for ${merged.parameters.shards} shards`);
  let compared = 0;
  for (const f of parts) {
    const p = json(join(dir, f));
    const idx = new Int32Array(new Uint8Array(Buffer.from(p.candidates.indices, 'base64')).buffer);
    const bits = new Uint32Array(new Uint8Array(Buffer.from(p.candidates.scores, 'base64')).buffer);
    expect(idx.length === p.shard.end - p.shard.start, `${f} keeps every score of its slice (${idx.length} of ${p.shard.end - p.shard.start})`);
    for (let i = 0; i < idx.length; i++) {
      if (bits[i] !== wholeBits[idx[i]]) {
        expect(false, `${f}: sample ${idx[i]} has r bits ${bits[i].toString(16)}, one run ${wholeBits[idx[i]].toString(16)}`);
        break;
      }
      compared++;
    }
  }
  expect(compared === whole.n, `compared ${compared} scores of ${whole.n} samples`);
  return `CLD: ${merged.parameters.shards} Slurm shards merged = one run (${merged.selected} of ${merged.n} selected, ${compared} scores bit for bit)`;
}

function checkLandscape() {
  const merged = json(join(WORK, 'landscape', 'landscape.json'));
  const whole = json(join(WORK, 'ref', 'landscape-whole.json'));
  expect(merged.format === 'riverbed.landscape' && merged.shards > 1, `the merge says it merged ${merged.shards} shards`);
  for (const k of ['id', 'dims', 'axes', 'samples', 'backend', 'directions', 'center', 'minimum', 'loss', 'accuracy']) {
    expect(same(merged[k], whole[k]), `landscape field ${k}, merged vs one run: ${where(merged[k], whole[k])}`);
  }
  for (const q of ['loss', 'accuracy']) {
    expect(bytesEqual(join(WORK, 'landscape', `landscape.${q}.npy`), join(WORK, 'ref', `landscape-whole.${q}.npy`)), `the ${q} .npy files differ`);
  }
  expect(statSync(join(WORK, 'landscape', 'landscape.png')).size > 10_000, 'the merge job drew landscape.png');
  const flat = merged.loss.flat();
  return `landscape: ${merged.shards} Slurm shards merged = one run (${flat.length} points, loss ${Math.min(...flat).toFixed(4)}…${Math.max(...flat).toFixed(4)}, bit for bit)`;
}

/** The `--flag` names of the first `riverbed <sub> <command>` in a shell text (continuations joined). */
function riverbedFlags(text, sub) {
  const joined = text.replace(/\\\n/g, ' ');
  const m = new RegExp(`riverbed ${sub}([^\\n&;]*)`).exec(joined);
  if (!m) return null;
  return [...m[1].matchAll(/(?:^|\s)(--[a-z-]+)/g)].map((x) => x[1]).sort();
}

function checkKube() {
  const files = ['cld-shards-job.yaml', 'cld-merge-job.yaml'].map((f) => join(ROOT, 'examples', 'kubernetes', f));
  // Node has no YAML parser among this project's packages; python3-yaml (Debian's; run.sh passes the python3 that has it as PYTHON_YAML).
  const py = spawnSync(process.env.PYTHON_YAML || 'python3', ['-c', 'import json, sys, yaml\nprint(json.dumps([list(yaml.safe_load_all(open(f))) for f in sys.argv[1:]]))', ...files], { encoding: 'utf8' });
  if (py.status !== 0) throw new Error(`the Kubernetes YAML does not parse: ${py.stderr.trim().split('\n').slice(-3).join(' | ')}`);
  const [[shards, ...more1], [merge, ...more2]] = JSON.parse(py.stdout);
  expect(more1.length === 0 && more2.length === 0, 'one document per file');
  const ctr = (job) => job?.spec?.template?.spec?.containers?.[0];
  for (const [job, name] of [[shards, 'cld-shards'], [merge, 'cld-merge']]) {
    expect(job?.apiVersion === 'batch/v1' && job?.kind === 'Job' && job?.metadata?.name === name, `${name}: a batch/v1 Job named ${name}`);
    expect(['Never', 'OnFailure'].includes(job?.spec?.template?.spec?.restartPolicy), `${name}: restartPolicy Never or OnFailure (a Job requires one of them)`);
    const c = ctr(job);
    expect(same(c?.command, ['sh', '-c']) && Array.isArray(c?.args) && c.args.length === 1 && typeof c.args[0] === 'string', `${name}: command sh -c with one script`);
    const dataEnv = c?.env?.find((e) => e.name === 'DATA')?.value;
    const mount = c?.volumeMounts?.[0];
    expect(mount && mount.mountPath === dataEnv, `${name}: DATA (${dataEnv}) is the volume's mount path (${mount?.mountPath})`);
    const vol = job?.spec?.template?.spec?.volumes?.find((v) => v.name === mount?.name);
    expect(vol?.persistentVolumeClaim?.claimName === 'cld-data', `${name}: the volume is the claim cld-data`);
  }
  const n = shards?.spec?.completions;
  expect(shards?.spec?.completionMode === 'Indexed' && Number.isInteger(n) && n > 1, 'cld-shards: an Indexed Job of several completions');
  const shardScript = ctr(shards).args[0];
  expect(shardScript.includes(`--shard "$JOB_COMPLETION_INDEX/${n}"`), `cld-shards: --shard "$JOB_COMPLETION_INDEX/${n}" (n = completions)`);
  const mergeScript = ctr(merge).args[0];
  // The same commands as the Slurm scripts the cluster ran: the same riverbed flags.
  const sb = (f) => readFileSync(join(ROOT, 'examples', 'slurm', f), 'utf8');
  for (const [script, sbatch, sub] of [[shardScript, 'cld-shards.sbatch', 'coreset cld'], [mergeScript, 'cld-merge.sbatch', 'coreset merge']]) {
    const a = riverbedFlags(script, sub);
    const b = riverbedFlags(sb(sbatch), sub);
    expect(a && b && same(a, b), `riverbed ${sub}: the Job's flags ${a} differ from examples/slurm/${sbatch}'s ${b}`);
  }
  if (failures.length) return '';
  // Run the pods' scripts here, as the indexed Job would: the same trajectory files under DATA.
  const data = join(WORK, 'kube');
  mkdirSync(data, { recursive: true });
  for (const f of ['train_loss.npy', 'train_labels.npy', 'val_loss.npy', 'val_labels.npy']) {
    expect(existsSync(join(WORK, 'cld', f)), `the trajectory file ${f}`);
    spawnSync('cp', [join(WORK, 'cld', f), data]);
  }
  const sh = (script, env) => {
    const r = spawnSync('sh', ['-c', script], { encoding: 'utf8', env: { ...process.env, DATA: data, ...env } });
    if (r.status !== 0) throw new Error(`the Job's script failed (${JSON.stringify(env)}): ${r.stderr}`);
  };
  for (let i = 0; i < n; i++) sh(shardScript, { JOB_COMPLETION_INDEX: String(i) });
  sh(mergeScript, {});
  const k = json(join(data, 'selection.json'));
  const s = json(join(WORK, 'cld', 'selection.json'));
  expect(k.parameters.shards === n, `the Job's merge merged ${k.parameters.shards} parts, expected ${n}`);
  expect(same(k.indices, s.indices) && same(k.perClass, s.perClass), `the Kubernetes commands' selection (${n} shards) differs from the Slurm one (${s.parameters.shards} shards)`);
  return `kubernetes: YAML well-formed, flags = the sbatch scripts', ${n} pod commands + merge run here = the Slurm selection`;
}

const run = { cld: checkCld, landscape: checkLandscape, kube: checkKube }[cmd];
if (!run || !WORK) {
  process.stderr.write('usage: check.mjs cld|landscape|kube WORK [ROOT]\n');
  process.exit(2);
}
let summary = '';
try {
  summary = run();
} catch (e) {
  failures.push(e instanceof Error ? e.message : String(e));
}
if (failures.length) {
  process.stderr.write(`FAIL ${cmd}:\n  ${failures.join('\n  ')}\n`);
  process.exit(1);
}
process.stdout.write(`ok  ${summary}\n`);
