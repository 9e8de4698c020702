// The `%%step` line of a cell, read and written as the kernel reads it (nbflow.magics:
// shlex-split, argparse options), so the cell's source stays the single truth about a step.
// Pure functions: no DOM, no JupyterLab.

export interface StepLine {
  name: string;
  after: string[];
  foreach: string | null;
  /** `--as NAME`; kept only while there is a foreach. */
  as: string | null;
  join: boolean;
  /** Every other option (--when, --retry, ...), tokens kept verbatim in their order. */
  rest: string[];
}

const MAGIC = '%%step';
// Options of nbflow.magics.step_parser that take one value; the others are flags.
const WITH_VALUE = new Set([
  '--foreach',
  '--as',
  '--when',
  '--retry',
  '--retry-delay',
  '--timeout',
  '--catch',
  '--resources',
  '--transient',
  '--out'
]);
const SAFE = /^[\w@%+=:,./-]+$/;
const IDENTIFIER = /^[\p{L}\p{Nl}_][\p{L}\p{Nl}\p{Mn}\p{Mc}\p{Nd}\p{Pc}]*$/u;

/** Python's str.isidentifier(), which is what the kernel checks names with. */
export function isIdentifier(text: string): boolean {
  return IDENTIFIER.test(text);
}

/** shlex.split in POSIX mode: whitespace separates, quotes group, backslash escapes. */
export function splitArgs(text: string): string[] {
  const tokens: string[] = [];
  let token = '';
  let started = false;
  let quote: string | null = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote === "'") {
      if (c === "'") {
        quote = null;
      } else {
        token += c;
      }
    } else if (quote === '"') {
      if (c === '"') {
        quote = null;
      } else if (c === '\\' && i + 1 < text.length && '\\"$`\n'.includes(text[i + 1])) {
        token += text[++i];
      } else {
        token += c;
      }
    } else if (/\s/.test(c)) {
      if (started) {
        tokens.push(token);
      }
      token = '';
      started = false;
    } else {
      started = true;
      if (c === "'" || c === '"') {
        quote = c;
      } else if (c === '\\' && i + 1 < text.length) {
        token += text[++i];
      } else {
        token += c;
      }
    }
  }
  if (started) {
    tokens.push(token);
  }
  return tokens;
}

/** shlex.quote: the token as the shell (and the kernel) reads it back. */
export function quoteArg(token: string): string {
  if (token && SAFE.test(token)) {
    return token;
  }
  return `'${token.replace(/'/g, `'"'"'`)}'`;
}

/** Index of the line holding the `%%step` magic: IPython drops leading blank lines. */
function magicLineIndex(lines: string[]): number {
  const first = lines.findIndex(line => line.trim() !== '');
  return first >= 0 && isMagicLine(lines[first]) ? first : -1;
}

function isMagicLine(line: string): boolean {
  const trimmed = line.trimStart();
  return (
    trimmed.startsWith(MAGIC) &&
    (trimmed.length === MAGIC.length || /\s/.test(trimmed[MAGIC.length]))
  );
}

/** The cell's step, or null for a plain cell. */
export function parseStepLine(source: string): StepLine | null {
  const lines = source.split('\n');
  const at = magicLineIndex(lines);
  if (at < 0) {
    return null;
  }
  const tokens = splitArgs(lines[at].trimStart().slice(MAGIC.length));
  const step: StepLine = { name: '', after: [], foreach: null, as: null, join: false, rest: [] };
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i];
    const [option, inline] =
      token.startsWith('--') && token.includes('=')
        ? [token.slice(0, token.indexOf('=')), token.slice(token.indexOf('=') + 1)]
        : [token, null];
    if (option === '--after') {
      // argparse nargs="+": every following token up to the next option.
      const values = inline !== null ? [inline] : [];
      while (inline === null && i + 1 < tokens.length && !tokens[i + 1].startsWith('-')) {
        values.push(tokens[++i]);
      }
      step.after.push(
        ...values
          .flatMap(v => v.split(','))
          .map(v => v.trim())
          .filter(Boolean)
      );
    } else if (option === '--join') {
      step.join = true;
    } else if (option === '--foreach' || option === '--as') {
      const value = inline ?? tokens[++i] ?? '';
      if (option === '--foreach') {
        step.foreach = value;
      } else {
        step.as = value;
      }
    } else if (WITH_VALUE.has(option)) {
      step.rest.push(token);
      if (inline === null && i + 1 < tokens.length) {
        step.rest.push(tokens[++i]);
      }
    } else if (!token.startsWith('-') && !step.name) {
      step.name = token;
    } else {
      step.rest.push(token);
    }
  }
  return step;
}

/** The `%%step ...` line for `step`: name, parents, foreach, join, then the other options. */
export function formatStepLine(step: StepLine): string {
  const parts = [MAGIC, quoteArg(step.name)];
  if (step.after.length) {
    parts.push('--after', ...step.after.map(quoteArg));
  }
  if (step.foreach) {
    parts.push('--foreach', quoteArg(step.foreach));
    if (step.as && step.as !== 'item') {
      parts.push('--as', quoteArg(step.as));
    }
  }
  if (step.join) {
    parts.push('--join');
  }
  parts.push(...step.rest.map(quoteArg));
  return parts.join(' ');
}

/** `source` with its `%%step` line set to `step` (added as the first line of a plain cell). */
export function setStepLine(source: string, step: StepLine): string {
  const lines = source.split('\n');
  const at = magicLineIndex(lines);
  if (at < 0) {
    return `${formatStepLine(step)}\n${source}`;
  }
  lines[at] = formatStepLine(step);
  return lines.join('\n');
}

/** `source` as a plain cell: its `%%step` line removed, the code kept. */
export function removeStepLine(source: string): string {
  const lines = source.split('\n');
  const at = magicLineIndex(lines);
  if (at < 0) {
    return source;
  }
  lines.splice(at, 1);
  return lines.join('\n');
}

/**
 * The flow a notebook's cells make, as the kernel names it: the last `%flow name X` line of
 * the code cells, else the notebook file's stem if it is an identifier, else "flow".
 */
export function flowName(sources: string[], path: string): string {
  let named: string | null = null;
  for (const source of sources) {
    for (const line of source.split('\n')) {
      const found = /^\s*%flow\s+name\s+(.*)$/.exec(line);
      if (found) {
        const args = splitArgs(found[1]);
        if (args.length === 1 && isIdentifier(args[0])) {
          named = args[0];
        }
      }
    }
  }
  if (named) {
    return named;
  }
  const file = path.split('/').pop() ?? '';
  const dot = file.lastIndexOf('.');
  const stem = dot > 0 ? file.slice(0, dot) : file;
  return isIdentifier(stem) ? stem : 'flow';
}
