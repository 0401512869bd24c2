/**
 * The shell commands the documentation shows, found the way a reader finds them:
 *
 * - fenced ```sh / ```bash / ```shell blocks: every line is a command (`\` continuations joined, a trailing
 *   `# comment` dropped; `# or: <command>` is a second command, `# prints: <text>` the output shown);
 * - fenced ```console / ```text (or sh) blocks that show `$ ` prompts: a transcript, where only the prompted
 *   lines are commands and the lines up to the next prompt are their output, `[exit N]` their exit status;
 * - inline code spans outside fences that start with a command word (`key-manager`, `aws `, `npx `, ...),
 *   a span broken over two lines read as one;
 * - the `First:` commands of an alarm description or an event rule's message (see `alarmCommands`).
 *
 * Pure functions over text: the test reads the files and the templates.
 */

export type CommandSource = 'block' | 'transcript' | 'inline' | 'alarm';

export interface DocCommand {
  /** `README.md`, `docs/rotation.md`, or `alarm:<name>` / `event:<name>`. */
  readonly doc: string;
  /** 1-based line of the command's first line (0 for alarm texts). */
  readonly line: number;
  /** The nearest heading above it (the alarm or rule name for alarm texts). */
  readonly section: string;
  readonly source: CommandSource;
  /** As written, continuations joined, prompt and trailing comment removed. */
  readonly command: string;
  /** What the doc shows the command printing (a transcript's output lines, a `# prints:` comment) and its `[exit N]`. */
  readonly shown?: { readonly output: string; readonly exit?: number };
}

/** Words that start a command in an inline code span. */
export const COMMAND_WORDS = ['key-manager', 'aws', 'npx', 'npm', 'node', 'git', 'sha256sum', 'openssl', 'vault', 'cdk', 'export'];

const SHELL_BLOCKS = new Set(['sh', 'bash', 'shell']);
const TRANSCRIPT_BLOCKS = new Set(['console', 'text', 'sh', 'bash', 'shell']);
const PROMPT = '$ ';
const EXIT_LINE = /^\[exit (\d+)\]$/;

/** True when a code span's text is a command line rather than a name, a path or a value. */
export function isCommandSpan(text: string): boolean {
  const first = text.split(' ')[0];
  if (!COMMAND_WORDS.includes(first)) return false;
  // `export --out FILE` is key-manager's subcommand in a table; the shell's export assigns.
  if (first === 'export') return /^export [A-Za-z_][A-Za-z0-9_]*=/.test(text);
  // `aws:SECRET_ID` and friends are store URIs, not commands; a bare word (`npm`) is a tool's name.
  return text.includes(' ');
}

export function extractCommands(doc: string, markdown: string): DocCommand[] {
  const lines = markdown.split('\n');
  const out: DocCommand[] = [];
  let section = '';
  const prose: { line: number; text: string; section: string }[] = [];
  for (let i = 0; i < lines.length; i++) {
    const fence = /^(\s*)```(\S*)\s*$/.exec(lines[i]);
    if (!fence) {
      const heading = /^#{1,6}\s+(.*)$/.exec(lines[i]);
      if (heading) section = heading[1].trim();
      prose.push({ line: i + 1, text: lines[i], section });
      continue;
    }
    const indent = fence[1].length;
    const info = fence[2];
    const body: { line: number; text: string }[] = [];
    let j = i + 1;
    for (; j < lines.length && !/^\s*```\s*$/.test(lines[j]); j++) body.push({ line: j + 1, text: lines[j].slice(Math.min(indent, lines[j].length - lines[j].trimStart().length)) });
    i = j;
    // Keep line numbering for the prose pass: a fence is a paragraph break.
    prose.push({ line: j + 1, text: '', section });
    const prompted = body.some((l) => l.text.startsWith(PROMPT));
    if (prompted && TRANSCRIPT_BLOCKS.has(info)) out.push(...transcript(doc, section, body));
    else if (SHELL_BLOCKS.has(info)) out.push(...shellBlock(doc, section, body));
  }
  out.push(...inlineSpans(doc, prose));
  return out.sort((a, b) => a.line - b.line);
}

function shellBlock(doc: string, section: string, body: readonly { line: number; text: string }[]): DocCommand[] {
  const out: DocCommand[] = [];
  for (const { line, text } of joinContinuations(body)) {
    const { command, comment } = splitComment(text);
    const prints = /^prints:\s+(.*)$/.exec(comment);
    if (command !== '') out.push({ doc, line, section, source: 'block', command, ...(prints ? { shown: { output: prints[1] } } : {}) });
    const alternative = /^or:\s+(.*)$/.exec(comment);
    if (alternative && isCommandSpan(alternative[1].trim())) out.push({ doc, line, section, source: 'block', command: alternative[1].trim() });
  }
  return out;
}

function transcript(doc: string, section: string, body: readonly { line: number; text: string }[]): DocCommand[] {
  const out: { doc: string; line: number; section: string; source: 'transcript'; command: string; output: string[]; exit?: number }[] = [];
  const joined = joinContinuations(body.map((l) => ({ ...l })), (t) => t.startsWith(PROMPT));
  for (const { line, text } of joined) {
    if (text.startsWith(PROMPT)) {
      out.push({ doc, line, section, source: 'transcript', command: text.slice(PROMPT.length).trim(), output: [] });
      continue;
    }
    const current = out[out.length - 1];
    if (!current) continue;
    const exit = EXIT_LINE.exec(text.trim());
    if (exit) current.exit = Number(exit[1]);
    else current.output.push(text);
  }
  return out.map(({ output, exit, ...c }) => ({ ...c, shown: { output: output.join('\n'), ...(exit !== undefined ? { exit } : {}) } }));
}

/** Joins lines ending in `\` with the next; `only` limits joining to lines it accepts (a transcript's commands). */
function joinContinuations(body: readonly { line: number; text: string }[], only: (text: string) => boolean = () => true): { line: number; text: string }[] {
  const out: { line: number; text: string }[] = [];
  for (let i = 0; i < body.length; i++) {
    let { text } = body[i];
    const { line } = body[i];
    if (only(text)) {
      while (/\\\s*$/.test(text) && i + 1 < body.length) text = `${text.replace(/\\\s*$/, '')} ${body[++i].text.trim()}`;
    }
    out.push({ line, text });
  }
  return out;
}

/** Splits a shell line at its first `#` that starts a comment (after whitespace, outside quotes). */
export function splitComment(text: string): { command: string; comment: string } {
  let quote: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote) {
      if (c === quote) quote = undefined;
      else if (c === '\\' && quote === '"') i++;
      continue;
    }
    if (c === '\\') {
      i++;
      continue;
    }
    if (c === "'" || c === '"') quote = c;
    else if (c === '#' && (i === 0 || /\s/.test(text[i - 1]))) return { command: text.slice(0, i).trim(), comment: text.slice(i + 1).trim() };
  }
  return { command: text.trim(), comment: '' };
}

/** Code spans in prose; a span may continue on the next line of its paragraph. */
function inlineSpans(doc: string, prose: readonly { line: number; text: string; section: string }[]): DocCommand[] {
  const out: DocCommand[] = [];
  let paragraph: { line: number; text: string; section: string }[] = [];
  const flush = () => {
    if (paragraph.length === 0) return;
    // Offsets of each line's start in the joined paragraph, to give a span its line.
    const starts: number[] = [];
    let joined = '';
    for (const l of paragraph) {
      starts.push(joined.length);
      joined += `${l.text}\n`;
    }
    for (const m of joined.matchAll(/(`+)([^`]+?)\1/g)) {
      const text = m[2].replace(/\s*\n\s*/g, ' ').trim();
      if (!isCommandSpan(text)) continue;
      let k = 0;
      while (k + 1 < starts.length && starts[k + 1] <= (m.index as number)) k++;
      out.push({ doc, line: paragraph[k].line, section: paragraph[k].section, source: 'inline', command: text });
    }
    paragraph = [];
  };
  for (const l of prose) {
    if (l.text.trim() === '') flush();
    else paragraph.push(l);
  }
  flush();
  return out;
}

/**
 * The commands an alarm description or event message names after `First:`, as on-call reads them:
 * `First: <cmd>, then: <cmd>` / `..., then retry: <cmd>` / `... then <cmd>`, each command ending before a
 * parenthesised remark, a comma or the end of the sentence.
 */
export function alarmCommands(text: string): string[] {
  const first = text.indexOf('First: ');
  if (first < 0) return [];
  const rest = text.slice(first + 'First: '.length);
  return rest
    .split(/,?\s+then(?: retry)?:?\s+/)
    .map((part) => part.replace(/\s+\(.*$/, '').replace(/\.\s*$/, '').trim())
    .filter((part) => isCommandSpan(part));
}

/** Words of a command line that stand for something the reader fills in: `<...>`, `...`, `aws:ID`, a bare `N`. */
export function unfilledPlaceholders(command: string): string[] {
  const found = new Set<string>();
  for (const m of command.matchAll(/<[^<>\n]+>/g)) {
    // `<` `>` as redirections are spaced; a placeholder is a word in angle brackets.
    if (!/^<\s|\s>$/.test(m[0])) found.add(m[0]);
  }
  for (const m of command.matchAll(/(?:^|[\s=:])(\.\.\.|…)(?=$|[\s/])/g)) found.add(m[1]);
  // Capitals inside quotes are text (a reason, a name), not a value to fill in.
  const unquoted = command.replace(/'[^']*'|"[^"]*"/g, "''");
  for (const m of unquoted.matchAll(/(?:^|\s)((?:[a-z]+:)?[A-Z][A-Z_]*)(?=$|\s)/g)) {
    if (!LITERAL_CAPITALS.has(m[1])) found.add(m[1]);
  }
  return [...found];
}

/** All-capital words that are literal in a command line, not a value to fill in. */
const LITERAL_CAPITALS = new Set(['AWSCURRENT', 'AWSPENDING', 'AWSPREVIOUS']);
