// The benchmark's results model and its table: every figure beside the direct connection, with
// the tunnel/direct ratio, and the project's performance goal where there is one (Muon's modes
// are marked against the goals; a peer tunnel such as `ssh -R` gets a column but no marks).

/** Muon's own tunnel modes. */
export type TunnelMode = 'plain' | 'tls';
/** Other tunnels measured side by side with the same workloads. */
export type PeerMode = 'ssh';
export type Mode = 'direct' | TunnelMode | PeerMode;

export const TUNNEL_MODES: readonly TunnelMode[] = ['plain', 'tls'];

export interface Goal {
  readonly text: string;
  /** true/false when the goal applies to this tunnel mode's figure, undefined otherwise. */
  met(value: number, direct: number | undefined, mode: TunnelMode): boolean | undefined;
}

export interface Figure {
  readonly group: string;
  readonly label: string;
  readonly unit: string;
  readonly better: 'higher' | 'lower';
  readonly values: Partial<Record<Mode, number>>;
  readonly goal?: Goal;
}

/** Goal: tunnel figure ≥ a fraction of direct (fractions per tunnel mode). */
export function atLeastOfDirect(fractions: Partial<Record<TunnelMode, number>>): Goal {
  const parts = Object.entries(fractions).map(([mode, f]) => `${mode} ≥${f}×`);
  return {
    text: parts.join(', '),
    met: (value, direct, mode) => {
      const f = fractions[mode];
      return f === undefined || direct === undefined ? undefined : value >= f * direct;
    },
  };
}

/** Goal: an absolute bound on the tunnel figure. */
export function absolute(op: '<' | '≤' | '=', bound: number): Goal {
  return {
    text: `${op} ${bound}`,
    met: (value) => (op === '<' ? value < bound : op === '≤' ? value <= bound : value === bound),
  };
}

export function ratio(figure: Figure, mode: Exclude<Mode, 'direct'>): number | undefined {
  const value = figure.values[mode];
  const direct = figure.values.direct;
  if (value === undefined || direct === undefined || direct === 0) return undefined;
  return value / direct;
}

export function formatNumber(n: number | undefined): string {
  if (n === undefined || !Number.isFinite(n)) return '—';
  const abs = Math.abs(n);
  if (abs >= 1000 || Number.isInteger(n)) return Math.round(n).toLocaleString('en-US');
  if (abs >= 100) return n.toFixed(0);
  if (abs >= 10) return n.toFixed(1);
  if (abs >= 1) return n.toFixed(2);
  return n.toFixed(3);
}

function formatRatio(r: number | undefined): string {
  return r === undefined ? '—' : `${r >= 10 ? r.toFixed(1) : r.toFixed(2)}×`;
}

function goalCell(figure: Figure, modes: readonly Mode[]): string {
  const goal = figure.goal;
  if (goal === undefined) return '';
  const marks: string[] = [];
  for (const mode of TUNNEL_MODES) {
    if (!modes.includes(mode)) continue;
    const value = figure.values[mode];
    if (value === undefined) continue;
    const met = goal.met(value, figure.values.direct, mode);
    if (met !== undefined) marks.push(`${mode} ${met ? 'ok' : 'MISS'}`);
  }
  return marks.length === 0 ? goal.text : `${goal.text} (${marks.join(', ')})`;
}

/** Renders the figures as a fixed-width text table for the modes that were run. */
export function renderTable(figures: readonly Figure[], modes: readonly Mode[]): string {
  const tunnelModes = modes.filter((m): m is Exclude<Mode, 'direct'> => m !== 'direct');
  const header = ['figure', 'unit', 'direct'];
  for (const m of tunnelModes) header.push(m, `${m}/direct`);
  header.push('goal');
  const rows: string[][] = [header];
  let lastGroup = '';
  const separators = new Set<number>();
  for (const figure of figures) {
    if (figure.group !== lastGroup && rows.length > 1) separators.add(rows.length);
    lastGroup = figure.group;
    const row = [`${figure.group}: ${figure.label}`, figure.unit, formatNumber(figure.values.direct)];
    for (const m of tunnelModes) row.push(formatNumber(figure.values[m]), formatRatio(ratio(figure, m)));
    row.push(goalCell(figure, modes));
    rows.push(row);
  }
  const widths = header.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  const line = (row: readonly string[]): string =>
    row
      .map((cell, i) =>
        i < 2 || i === row.length - 1 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0),
      )
      .join('  ')
      .trimEnd();
  const out: string[] = [];
  rows.forEach((row, i) => {
    if (i === 1 || separators.has(i)) out.push(widths.map((w) => '-'.repeat(w)).join('  '));
    out.push(line(row));
  });
  return out.join('\n');
}

/** JSON form of the figures (goals as text, ratios computed). */
export function figuresToJson(figures: readonly Figure[]): unknown[] {
  return figures.map((f) => ({
    group: f.group,
    label: f.label,
    unit: f.unit,
    better: f.better,
    values: f.values,
    ratios: { plain: ratio(f, 'plain'), tls: ratio(f, 'tls'), ssh: ratio(f, 'ssh') },
    ...(f.goal === undefined ? {} : { goal: f.goal.text }),
  }));
}
