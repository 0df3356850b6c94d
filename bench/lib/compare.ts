// Side-by-side runs and their report: each run measures Ferry then piping-server (ABAB…), each on a fresh
// server, so that load from other work on the machine falls on both sides alike. The report is a Markdown
// table of medians with the Ferry/piping-server ratio and, where the brief sets one, the target.
import { LABEL, RELAYS, type RelayKind } from './servers.ts';

export interface MetricSpec {
  key: string;
  label: string;
  digits: number;
  /** A target on the Ferry/piping-server ratio of the medians. */
  target?: { op: '>=' | '<='; ratio: number };
}

export type Sample = Record<string, number>;

export interface Comparison {
  title: string;
  runs: number;
  metrics: readonly MetricSpec[];
  samples: Record<RelayKind, Sample[]>;
}

export async function interleave(
  title: string,
  tag: string,
  runs: number,
  measure: (kind: RelayKind) => Promise<Sample>,
  metrics: readonly MetricSpec[],
): Promise<Comparison> {
  const samples: Record<RelayKind, Sample[]> = { ferry: [], piping: [] };
  for (let run = 0; run < runs; run++) {
    for (const kind of RELAYS) {
      const sample = await measure(kind);
      samples[kind].push(sample);
      const shown = metrics.map((m) => `${m.label} ${format(sample[m.key], m.digits)}`).join(', ');
      process.stderr.write(`  [${tag}] run ${run + 1}/${runs} ${LABEL[kind]}: ${shown}\n`);
    }
  }
  return { title, runs, metrics, samples };
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** Nearest-rank percentile (p in 0..100) of unsorted values. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1] as number;
}

function format(value: number | undefined, digits: number): string {
  return value === undefined || Number.isNaN(value) ? '—' : value.toFixed(digits);
}

function targetMet(spec: MetricSpec, ratio: number): boolean | undefined {
  if (!spec.target || Number.isNaN(ratio)) return undefined;
  return spec.target.op === '>=' ? ratio >= spec.target.ratio : ratio <= spec.target.ratio;
}

export interface Verdict {
  table: string;
  /** Every target of this comparison met (true when it has none). */
  met: boolean;
}

export function report(comparison: Comparison): Verdict {
  const { title, runs, metrics, samples } = comparison;
  const lines = [
    `### ${title} (median of ${runs} run${runs === 1 ? '' : 's'} per side)`,
    '',
    `| metric | ${LABEL.ferry} | ${LABEL.piping} | Ferry/piping | target | met |`,
    '|---|---:|---:|---:|---|---|',
  ];
  let met = true;
  for (const spec of metrics) {
    const [ferry, piping] = RELAYS.map((kind) => median(samples[kind].map((s) => s[spec.key] ?? Number.NaN)));
    const ratio = (ferry as number) / (piping as number);
    const ok = targetMet(spec, ratio);
    if (ok === false) met = false;
    const target = spec.target ? `${spec.target.op} ${spec.target.ratio}` : '';
    const verdict = ok === undefined ? '' : ok ? 'yes' : '**no**';
    lines.push(
      `| ${spec.label} | ${format(ferry, spec.digits)} | ${format(piping, spec.digits)} | ${format(ratio, 2)} | ${target} | ${verdict} |`,
    );
  }
  lines.push('', 'Every run (Ferry | piping-server):');
  for (const spec of metrics) {
    const [ferry, piping] = RELAYS.map((kind) => samples[kind].map((s) => format(s[spec.key], spec.digits)).join(' '));
    lines.push(`- ${spec.label}: ${ferry} | ${piping}`);
  }
  return { table: lines.join('\n'), met };
}
