/**
 * Glue's GetPartitions `Expression`: the SQL WHERE subset the API reference documents (=, <>, >, <, >=, <=,
 * AND, OR, NOT, IN, BETWEEN, LIKE, IS NULL, IS NOT NULL, parentheses; string and number literals), read by
 * a tokenizer and a recursive-descent parser into a predicate over a partition's values.
 *
 * Values compare as the partition key's declared type (an `int` key: 10 > 9; a `string` key: '10' < '9'),
 * as Glue does; a NULL value (Hive's default partition) makes a comparison unknown, as in SQL. Errors are Glue's: InvalidInputException "Unsupported expression '…'" for text that does not
 * parse, "Invalid partition expression!" for a column that is not a partition key (the text AWS answers
 * since 2025; older answers said "Unknown column"), and the type messages for a literal or operator the
 * key's type cannot take.
 */
import { AwsServiceError } from '../protocol';

export interface PartitionKey {
  Name: string;
  Type?: string;
}

/** True when the partition with these values (in partition-key order) matches. */
export type PartitionPredicate = (values: readonly string[]) => boolean;

/** SQL's three-valued logic: a comparison with a NULL partition value is unknown (null), and so is NOT unknown. */
type Condition = (values: readonly string[]) => boolean | null;

/** Hive writes a NULL partition value as this directory name; IS NULL matches it. */
const HIVE_NULL = '__HIVE_DEFAULT_PARTITION__';
const INTEGRAL = new Set(['tinyint', 'smallint', 'int', 'integer', 'bigint']);
const FRACTIONAL = new Set(['float', 'double', 'decimal']);
const KEYWORDS = new Set(['AND', 'OR', 'NOT', 'IN', 'BETWEEN', 'LIKE', 'IS', 'NULL']);

type Token =
  | { kind: 'ident'; text: string; at: number }
  | { kind: 'keyword'; text: string; at: number }
  | { kind: 'string'; text: string; at: number }
  | { kind: 'number'; text: string; at: number }
  | { kind: 'op'; text: string; at: number }
  | { kind: 'end'; text: ''; at: number };

const invalidInput = (message: string) => new AwsServiceError('InvalidInputException', message);

/** Local: the parser's signal, turned into Glue's InvalidInputException before it leaves this module. */
class UnsupportedExpression extends Error {}

function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < source.length) {
    const c = source[i];
    if (/\s/.test(c)) {
      i += 1;
    } else if (c === "'") {
      let text = '';
      let j = i + 1;
      for (;;) {
        if (j >= source.length) throw new UnsupportedExpression(`unterminated string at ${i}`);
        if (source[j] === "'") {
          if (source[j + 1] === "'") {
            text += "'";
            j += 2;
            continue;
          }
          break;
        }
        text += source[j];
        j += 1;
      }
      tokens.push({ kind: 'string', text, at: i });
      i = j + 1;
    } else if (/[0-9]/.test(c) || (c === '-' && /[0-9]/.test(source[i + 1] ?? ''))) {
      // The test above saw a digit (or a minus before one) here: the pattern matches at least that.
      const text = /^-?[0-9]+(\.[0-9]+)?/.exec(source.slice(i))?.[0] ?? c;
      tokens.push({ kind: 'number', text, at: i });
      i += text.length;
    } else if (/[A-Za-z_`]/.test(c)) {
      const match = c === '`' ? /^`([^`]+)`/.exec(source.slice(i)) : /^[A-Za-z_][A-Za-z0-9_]*/.exec(source.slice(i));
      if (!match) throw new UnsupportedExpression(`unterminated quoted name at ${i}`);
      const word = match[1] ?? match[0];
      if (c !== '`' && KEYWORDS.has(word.toUpperCase())) tokens.push({ kind: 'keyword', text: word.toUpperCase(), at: i });
      else tokens.push({ kind: 'ident', text: word, at: i });
      i += match[0].length;
    } else {
      const op = ['<>', '!=', '>=', '<=', '=', '<', '>', '(', ')', ','].find((o) => source.startsWith(o, i));
      if (!op) throw new UnsupportedExpression(`unexpected ${JSON.stringify(c)} at ${i}`);
      tokens.push({ kind: 'op', text: op === '!=' ? '<>' : op, at: i });
      i += op.length;
    }
  }
  tokens.push({ kind: 'end', text: '', at: source.length });
  return tokens;
}

type Literal = { kind: 'string' | 'number'; text: string };
type Comparable = number | string;

/** Binds a column to its partition key: where its value sits and how values of its type compare. */
class Column {
  constructor(
    readonly index: number,
    readonly name: string,
    readonly type: string,
  ) {}

  get integral(): boolean {
    return INTEGRAL.has(this.type);
  }

  get numeric(): boolean {
    return this.integral || FRACTIONAL.has(this.type) || this.type.startsWith('decimal');
  }

  /** A literal as this column's type; a value the type cannot hold is Glue's InvalidInputException. */
  literal(literal: Literal): Comparable {
    if (!this.numeric) return literal.text;
    const value = Number(literal.text);
    if (literal.text.trim() === '' || Number.isNaN(value)) throw invalidInput(`"${literal.text}" is not ${this.integral ? 'an integer' : 'a number'}.`);
    if (this.integral && !Number.isInteger(value)) throw invalidInput(`"${literal.text}" is not an integer.`);
    return value;
  }

  /** A stored partition value as this column's type (null for Hive's NULL partition). */
  value(values: readonly string[]): Comparable | null {
    const raw = values[this.index];
    if (raw === undefined || raw === HIVE_NULL) return null;
    if (!this.numeric) return raw;
    const value = Number(raw);
    return Number.isNaN(value) ? raw : value;
  }
}

const compare = (a: Comparable, b: Comparable): number => (a < b ? -1 : a > b ? 1 : 0);

class Parser {
  private position = 0;

  constructor(
    private readonly tokens: Token[],
    private readonly keys: readonly PartitionKey[],
  ) {}

  parse(): PartitionPredicate {
    const condition = this.or();
    if (this.peek().kind !== 'end') throw new UnsupportedExpression(`unexpected ${this.peek().text} at ${this.peek().at}`);
    return (values) => condition(values) === true;
  }

  private peek(): Token {
    return this.tokens[this.position];
  }

  private next(): Token {
    const token = this.tokens[this.position];
    if (token.kind !== 'end') this.position += 1;
    return token;
  }

  private accept(kind: Token['kind'], text?: string): boolean {
    const token = this.peek();
    if (token.kind === kind && (text === undefined || token.text === text)) {
      this.position += 1;
      return true;
    }
    return false;
  }

  private expect(kind: Token['kind'], text?: string): Token {
    const token = this.peek();
    if (!this.accept(kind, text)) throw new UnsupportedExpression(`expected ${text ?? kind} at ${token.at}`);
    return token;
  }

  private or(): Condition {
    let left = this.and();
    while (this.accept('keyword', 'OR')) {
      const [a, b] = [left, this.and()];
      left = (values) => {
        const [x, y] = [a(values), b(values)];
        return x === true || y === true ? true : x === null || y === null ? null : false;
      };
    }
    return left;
  }

  private and(): Condition {
    let left = this.not();
    while (this.accept('keyword', 'AND')) {
      const [a, b] = [left, this.not()];
      left = (values) => {
        const [x, y] = [a(values), b(values)];
        return x === false || y === false ? false : x === null || y === null ? null : true;
      };
    }
    return left;
  }

  private not(): Condition {
    if (this.accept('keyword', 'NOT')) {
      const inner = this.not();
      return (values) => {
        const x = inner(values);
        return x === null ? null : !x;
      };
    }
    if (this.accept('op', '(')) {
      const inner = this.or();
      this.expect('op', ')');
      return inner;
    }
    return this.predicate();
  }

  private column(): Column {
    const token = this.expect('ident');
    const index = this.keys.findIndex((k) => k.Name.toLowerCase() === token.text.toLowerCase());
    if (index < 0) throw invalidInput('Invalid partition expression!');
    return new Column(index, this.keys[index].Name, (this.keys[index].Type ?? 'string').toLowerCase());
  }

  private literal(): Literal {
    const token = this.next();
    if (token.kind !== 'string' && token.kind !== 'number') throw new UnsupportedExpression(`expected a literal at ${token.at}`);
    return { kind: token.kind, text: token.text };
  }

  private predicate(): Condition {
    const column = this.column();
    const token = this.next();
    if (token.kind === 'op' && ['=', '<>', '<', '>', '<=', '>='].includes(token.text)) {
      const right = column.literal(this.literal());
      const tests: Record<string, (c: number) => boolean> = {
        '=': (c: number) => c === 0,
        '<>': (c: number) => c !== 0,
        '<': (c: number) => c < 0,
        '>': (c: number) => c > 0,
        '<=': (c: number) => c <= 0,
        '>=': (c: number) => c >= 0,
      };
      const test = tests[token.text];
      return (values) => {
        const left = column.value(values);
        return left === null ? null : test(compare(left, right));
      };
    }
    if (token.kind === 'keyword' && token.text === 'IS') {
      const negated = this.accept('keyword', 'NOT');
      this.expect('keyword', 'NULL');
      return (values) => (column.value(values) === null) !== negated;
    }
    let negated = false;
    let operator: Token = token;
    if (token.kind === 'keyword' && token.text === 'NOT') {
      negated = true;
      operator = this.next();
    }
    if (operator.kind !== 'keyword') throw new UnsupportedExpression(`expected an operator at ${operator.at}`);
    let matches: Condition;
    if (operator.text === 'LIKE') {
      const pattern = this.literal();
      if (pattern.kind !== 'string') throw new UnsupportedExpression(`LIKE takes a string at ${operator.at}`);
      if (column.numeric) {
        throw invalidInput(`${column.integral ? 'Integral' : 'Fractional'} data type doesn't support operation 'LIKE'`);
      }
      const regex = new RegExp(
        `^${pattern.text
          .replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
          .replace(/%/g, '[\\s\\S]*')
          .replace(/_/g, '[\\s\\S]')}$`,
      );
      matches = (values) => {
        const value = column.value(values);
        return value === null ? null : regex.test(String(value));
      };
    } else if (operator.text === 'IN') {
      this.expect('op', '(');
      const list = [column.literal(this.literal())];
      while (this.accept('op', ',')) list.push(column.literal(this.literal()));
      this.expect('op', ')');
      matches = (values) => {
        const value = column.value(values);
        return value === null ? null : list.some((item) => compare(value, item) === 0);
      };
    } else if (operator.text === 'BETWEEN') {
      const low = column.literal(this.literal());
      this.expect('keyword', 'AND');
      const high = column.literal(this.literal());
      matches = (values) => {
        const value = column.value(values);
        return value === null ? null : compare(value, low) >= 0 && compare(value, high) <= 0;
      };
    } else {
      throw new UnsupportedExpression(`unexpected ${operator.text} at ${operator.at}`);
    }
    if (!negated) return matches;
    return (values) => {
      const x = matches(values);
      return x === null ? null : !x;
    };
  }
}

/** Parses a GetPartitions expression against the table's partition keys; a blank expression matches all. */
export function parsePartitionExpression(expression: string | undefined, keys: readonly PartitionKey[]): PartitionPredicate {
  if (expression === undefined || !expression.trim()) return () => true;
  try {
    return new Parser(tokenize(expression), keys).parse();
  } catch (error) {
    if (error instanceof UnsupportedExpression) throw invalidInput(`Unsupported expression '${expression}'`);
    throw error;
  }
}
