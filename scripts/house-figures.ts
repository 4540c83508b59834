/**
 * The house figures issue 25 asks for, of a checkout: the longest functions outside test/ (TypeScript and
 * JavaScript through the compiler's parser, Python through its ast module), the largest file and the longest
 * function of each folder, and the middleware combinations the Lambda handlers are wrapped in.
 *
 *   npx tsx scripts/house-figures.ts [checkout, default .] [--top N] [--json]
 *
 * A function's length is its lines from its first to its last, blank lines not counted, the functions nested in it
 * included: what a reader scrolls through. Biome's noExcessiveLinesPerFunction counts the body alone and leaves a
 * nested function to its own count, so a function here can be over 80 lines and pass Biome. A file's length is its
 * line count. Files are the ones
 * git tracks. It reads files only and writes to stdout.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import ts from 'typescript';

interface FunctionLength {
  file: string;
  name: string;
  line: number;
  lines: number;
}

const SOURCE = /\.(ts|js|py)$/;

/** The tracked source files outside test/ (and outside type declarations, which hold no functions). */
function sourceFiles(root: string): string[] {
  const tracked = execFileSync('git', ['ls-files'], { cwd: root, encoding: 'utf8' }).split('\n');
  return tracked.filter((file) => SOURCE.test(file) && !file.startsWith('test/') && !file.endsWith('.d.ts'));
}

const nonBlank = (lines: string[]) => lines.filter((line) => line.trim() !== '').length;

/** What a reader calls the function: its declaration's name, the variable or property it is assigned to, or its line. */
function functionName(node: ts.FunctionLikeDeclaration, source: ts.SourceFile): string {
  const line = source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1;
  const owner = ts.isClassLike(node.parent) && node.parent.name ? `${node.parent.name.text}.` : '';
  if (node.name && (ts.isIdentifier(node.name) || ts.isStringLiteral(node.name))) return `${owner}${node.name.text}`;
  const parent = node.parent;
  if ((ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent) || ts.isPropertyDeclaration(parent)) && ts.isIdentifier(parent.name)) {
    return `${owner}${parent.name.text}`;
  }
  if (ts.isConstructorDeclaration(node)) return `${owner}constructor`;
  return `<anonymous>@${line}`;
}

function tsFunctions(file: string, text: string): FunctionLength[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const lines = text.split('\n');
  const found: FunctionLength[] = [];
  const visit = (node: ts.Node) => {
    if (ts.isFunctionLike(node) && 'body' in node && node.body) {
      const declaration = node as ts.FunctionLikeDeclaration;
      const start = source.getLineAndCharacterOfPosition(node.getStart(source)).line;
      const end = source.getLineAndCharacterOfPosition(node.getEnd()).line;
      found.push({ file, name: functionName(declaration, source), line: start + 1, lines: nonBlank(lines.slice(start, end + 1)) });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

/** Python's functions through its own parser (python3 on PATH): name, first line and last line of each. */
function pyFunctions(root: string, files: string[]): FunctionLength[] {
  if (files.length === 0) return [];
  const program = [
    'import ast, json, sys',
    'out = []',
    'for path in sys.argv[1:]:',
    '    text = open(path).read()',
    '    lines = text.split("\\n")',
    '    for node in ast.walk(ast.parse(text)):',
    '        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):',
    '            start = min([node.lineno] + [d.lineno for d in node.decorator_list])',
    '            body = lines[start - 1 : node.end_lineno]',
    '            out.append({"file": path, "name": node.name, "line": start, "lines": sum(1 for l in body if l.strip())})',
    'print(json.dumps(out))',
  ].join('\n');
  return JSON.parse(execFileSync('python3', ['-c', program, ...files], { cwd: root, encoding: 'utf8', maxBuffer: 64 << 20 })) as FunctionLength[];
}

/** How each functions/<name>/handler.ts wraps its task: the middlewares in order. */
function handlerStacks(root: string, files: string[]): Map<string, string[]> {
  const stacks = new Map<string, string[]>();
  for (const file of files.filter((f) => /^functions\/[^/]+\/handler\.ts$/.test(f))) {
    const text = readFileSync(join(root, file), 'utf8');
    const exported = /export const handler\s*=\s*([\s\S]*?);\s*$/m.exec(text)?.[1] ?? '';
    const factory = /lambdaHandler\([^,]+,\s*\{([^}]*)\}/.exec(exported);
    const stack = factory
      ? ['injectLambdaContext', ...(/\bmetrics\b/.test(factory[1]) ? ['metricsMiddleware'] : []), 'stableErrorNames']
      : [...exported.matchAll(/\.use\(\s*([A-Za-z]+)/g)].map((match) => match[1]);
    stacks.set(file, stack);
  }
  return stacks;
}

function main(argv: string[]): void {
  const root = argv.find((arg) => !arg.startsWith('--')) ?? '.';
  const topAt = argv.indexOf('--top');
  const top = topAt >= 0 ? Number(argv[topAt + 1]) : 10;
  const files = sourceFiles(root);
  const texts = new Map(files.map((file) => [file, readFileSync(join(root, file), 'utf8')]));
  const functions = [
    ...files.filter((file) => !file.endsWith('.py')).flatMap((file) => tsFunctions(file, texts.get(file) ?? '')),
    ...pyFunctions(
      root,
      files.filter((file) => file.endsWith('.py')),
    ),
  ].sort((a, b) => b.lines - a.lines);

  const folders = new Map<string, { file?: { file: string; lines: number }; fn?: FunctionLength }>();
  for (const file of files) {
    const entry = folders.get(dirname(file)) ?? {};
    const lines = (texts.get(file) ?? '').split('\n').length - 1;
    if (!entry.file || lines > entry.file.lines) entry.file = { file, lines };
    folders.set(dirname(file), entry);
  }
  for (const fn of functions) {
    const entry = folders.get(dirname(fn.file)) ?? {};
    if (!entry.fn || fn.lines > entry.fn.lines) entry.fn = fn;
    folders.set(dirname(fn.file), entry);
  }

  const stacks = handlerStacks(root, files);
  const combinations = new Map<string, string[]>();
  for (const [file, stack] of stacks) combinations.set(stack.join(' → '), [...(combinations.get(stack.join(' → ')) ?? []), file.split('/')[1]]);

  const figures = {
    files: files.length,
    functions: functions.length,
    longestFunctions: functions.slice(0, top),
    functionsOver80Lines: functions.filter((fn) => fn.lines > 80).length,
    perFolder: [...folders.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([folder, entry]) => ({ folder, ...entry })),
    handlers: stacks.size,
    middlewareCombinations: [...combinations.entries()].map(([stack, handlers]) => ({ stack, handlers })),
  };
  if (argv.includes('--json')) {
    process.stdout.write(`${JSON.stringify(figures, null, 2)}\n`);
    return;
  }
  const out: string[] = [`${figures.files} source files outside test/, ${figures.functions} functions, ${figures.functionsOver80Lines} over 80 lines`];
  out.push('', `The ${top} longest functions (non-blank lines):`);
  for (const fn of figures.longestFunctions) out.push(`  ${String(fn.lines).padStart(4)}  ${fn.name}  ${fn.file}:${fn.line}`);
  out.push('', 'Per folder: largest file (lines) | longest function (non-blank lines):');
  for (const { folder, file, fn } of figures.perFolder) {
    const largest = file ? `${folder === '.' ? file.file : file.file.slice(folder.length + 1)} ${file.lines}` : '-';
    const longest = fn ? `${fn.name} ${fn.lines}` : '-';
    out.push(`  ${folder.padEnd(36)} ${largest.padEnd(34)} | ${longest}`);
  }
  out.push('', `Handlers: ${figures.handlers}, middleware combinations: ${figures.middlewareCombinations.length}`);
  for (const { stack, handlers } of figures.middlewareCombinations) out.push(`  ${stack || '(none)'}: ${handlers.length} (${handlers.join(', ')})`);
  process.stdout.write(`${out.join('\n')}\n`);
}

main(process.argv.slice(2));
