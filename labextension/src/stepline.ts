// The `%%step` line of a cell, read and written as the kernel reads it (nbflow.kernel.magics:
// shlex-split, argparse options), so the cell's source stays the single truth about a step.
// Pure functions: no DOM, no JupyterLab.

// The kernel's options and how many values each takes, generated from its own parser. The
// `.js` lets node import the built lib/stepline.js as it is (tests/unit/test_stepline.py).
import { ABBREVIATIONS, STEP_OPTIONS } from './stepoptions.js';

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

/** Whether argparse reads `token` as an option rather than a value (its _parse_optional). */
function isOption(token: string): boolean {
  const negativeNumber = /^-\d*\.?\d+$/.test(token);
  return token.length > 1 && token.startsWith('-') && !negativeNumber && !/\s/.test(token);
}

/** The option `text` names, as argparse finds it: exactly, or by a prefix only it has. */
function optionNamed(text: string): string | null {
  if (Object.prototype.hasOwnProperty.call(STEP_OPTIONS, text)) {
    return text;
  }
  const longer = ABBREVIATIONS ? Object.keys(STEP_OPTIONS).filter(o => o.startsWith(text)) : [];
  return longer.length === 1 ? longer[0] : null;
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
    const eq = token.startsWith('--') ? token.indexOf('=') : -1;
    const option = isOption(token) ? optionNamed(eq > 0 ? token.slice(0, eq) : token) : null;
    if (option === null) {
      if (!step.name && !isOption(token)) {
        step.name = token;
      } else {
        step.rest.push(token);
      }
      continue;
    }
    const start = i;
    const values = eq > 0 ? [token.slice(eq + 1)] : [];
    const arity = STEP_OPTIONS[option];
    while (
      eq < 0 &&
      (arity === '+' || values.length < arity) &&
      i + 1 < tokens.length &&
      !isOption(tokens[i + 1])
    ) {
      values.push(tokens[++i]);
    }
    // A repeated option replaces the earlier one, as argparse's store does.
    if (option === '--after') {
      step.after = values.flatMap(v => v.split(/[\s,]+/)).filter(Boolean);
    } else if (option === '--foreach') {
      step.foreach = values[0] ?? '';
    } else if (option === '--as') {
      step.as = values[0] ?? '';
    } else if (option === '--join') {
      step.join = true;
    } else {
      step.rest.push(...tokens.slice(start, i + 1));
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
