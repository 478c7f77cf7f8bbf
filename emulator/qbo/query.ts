/**
 * The subset of QBO's query language the service uses:
 *
 *   SELECT * | COUNT(*) FROM Customer|Invoice|Payment|CreditMemo|Preferences
 *     [WHERE Field = 'value' | Field IN ('a', 'b') | Field LIKE '%part%' [AND ...]]
 *     [STARTPOSITION n] [MAXRESULTS n]
 *
 * Keywords are case-insensitive. Strings are single-quoted; a backslash escapes the next
 * character (`O\'Brien`, `back\\slash`). There is no OR, as in QBO. Like QBO's lexer, curly
 * quotes and en dashes are a lexical error even inside a literal, and so is a literal whose
 * last backslash escapes its closing quote (qbo-api.md A9).
 */

export const QUERY_ENTITIES = ["Customer", "Invoice", "Payment", "CreditMemo", "Preferences"] as const;
export type QueryEntity = (typeof QUERY_ENTITIES)[number];

export const DEFAULT_MAX_RESULTS = 100;
export const MAX_MAX_RESULTS = 1000;

export interface Condition {
  field: string;
  /** `=` and `IN` match any of `values`; `LIKE` has one pattern where `%` is any run of characters. */
  operator: "=" | "IN" | "LIKE";
  values: string[];
}

export interface ParsedQuery {
  entity: QueryEntity;
  count: boolean;
  conditions: Condition[];
  startPosition: number;
  maxResults: number;
}

/** A query the parser rejects; rendered as QBO's 4000 QueryParserError. */
export class QuerySyntaxError extends Error {}

type Token =
  | { kind: "word"; text: string; at: number }
  | { kind: "string"; text: string; at: number }
  | { kind: "number"; text: string; at: number }
  | { kind: "symbol"; text: string; at: number };

export function parseQuery(source: string): ParsedQuery {
  const tokens = tokenize(source);
  const reader = new TokenReader(tokens, source);

  reader.keyword("SELECT");
  let count = false;
  if (reader.peekSymbol("*")) {
    reader.symbol("*");
  } else {
    reader.keyword("COUNT");
    reader.symbol("(");
    reader.symbol("*");
    reader.symbol(")");
    count = true;
  }
  reader.keyword("FROM");
  const entityName = reader.word("an entity name");
  const entity = QUERY_ENTITIES.find((name) => name.toLowerCase() === entityName.toLowerCase());
  if (!entity) throw new QuerySyntaxError(`Unsupported entity "${entityName}"`);

  const conditions: Condition[] = [];
  if (reader.peekKeyword("WHERE")) {
    reader.keyword("WHERE");
    conditions.push(parseCondition(reader));
    while (reader.peekKeyword("AND")) {
      reader.keyword("AND");
      conditions.push(parseCondition(reader));
    }
  }

  let startPosition: number | undefined;
  let maxResults: number | undefined;
  while (!reader.done()) {
    if (startPosition === undefined && reader.peekKeyword("STARTPOSITION")) {
      reader.keyword("STARTPOSITION");
      startPosition = reader.integer("STARTPOSITION");
      if (startPosition < 1) throw new QuerySyntaxError("STARTPOSITION must be 1 or more");
    } else if (maxResults === undefined && reader.peekKeyword("MAXRESULTS")) {
      reader.keyword("MAXRESULTS");
      maxResults = reader.integer("MAXRESULTS");
      if (maxResults < 1 || maxResults > MAX_MAX_RESULTS) {
        throw new QuerySyntaxError(`MAXRESULTS must be between 1 and ${MAX_MAX_RESULTS}`);
      }
    } else {
      reader.unexpected("STARTPOSITION, MAXRESULTS or the end of the query");
    }
  }

  return {
    entity,
    count,
    conditions,
    startPosition: startPosition ?? 1,
    maxResults: maxResults ?? DEFAULT_MAX_RESULTS,
  };
}

function parseCondition(reader: TokenReader): Condition {
  const field = reader.word("a field name");
  if (reader.peekSymbol("=")) {
    reader.symbol("=");
    return { field, operator: "=", values: [reader.literal()] };
  }
  if (reader.peekKeyword("LIKE")) {
    reader.keyword("LIKE");
    return { field, operator: "LIKE", values: [reader.literal()] };
  }
  reader.keyword("IN");
  reader.symbol("(");
  const values = [reader.literal()];
  while (reader.peekSymbol(",")) {
    reader.symbol(",");
    values.push(reader.literal());
  }
  reader.symbol(")");
  return { field, operator: "IN", values };
}

class TokenReader {
  readonly #tokens: Token[];
  readonly #source: string;
  #index = 0;

  constructor(tokens: Token[], source: string) {
    this.#tokens = tokens;
    this.#source = source;
  }

  done(): boolean {
    return this.#index >= this.#tokens.length;
  }

  peekKeyword(keyword: string): boolean {
    const token = this.#tokens[this.#index];
    return token?.kind === "word" && token.text.toUpperCase() === keyword;
  }

  peekSymbol(symbol: string): boolean {
    const token = this.#tokens[this.#index];
    return token?.kind === "symbol" && token.text === symbol;
  }

  keyword(keyword: string): void {
    if (!this.peekKeyword(keyword)) this.unexpected(`"${keyword}"`);
    this.#index++;
  }

  symbol(symbol: string): void {
    if (!this.peekSymbol(symbol)) this.unexpected(`"${symbol}"`);
    this.#index++;
  }

  word(what: string): string {
    const token = this.#tokens[this.#index];
    if (token?.kind !== "word") return this.unexpected(what);
    this.#index++;
    return token.text;
  }

  integer(what: string): number {
    const token = this.#tokens[this.#index];
    if (token?.kind !== "number" || !/^\d+$/.test(token.text))
      return this.unexpected(`an integer after ${what}`);
    this.#index++;
    return Number(token.text);
  }

  /** A quoted string, or a bare number / true / false (QBO accepts those unquoted). */
  literal(): string {
    const token = this.#tokens[this.#index];
    if (token?.kind === "string" || token?.kind === "number") {
      this.#index++;
      return token.text;
    }
    if (token?.kind === "word" && /^(true|false)$/i.test(token.text)) {
      this.#index++;
      return token.text.toLowerCase();
    }
    return this.unexpected("a quoted value");
  }

  unexpected(expected: string): never {
    const token = this.#tokens[this.#index];
    if (!token) throw new QuerySyntaxError(`Encountered end of query, was expecting ${expected}`);
    const found = this.#source.slice(token.at, token.at + 20);
    throw new QuerySyntaxError(`Encountered "${found}" at column ${token.at + 1}, was expecting ${expected}`);
  }
}

/** Characters QBO's lexer refuses wherever they are (observed: U+2019, U+2018, U+2013). */
const LEXICAL_ERRORS = new Set(["\u2018", "\u2019", "\u2013"]);

/**
 * QBO's wording: `Invalid content. Lexical error at line 1, column 43. Encountered: "\u2019"
 * (8217), after : "'%Fleur"` (quickbooks-ruby #309, QuickBooks-V3-PHP-SDK #397).
 */
function lexicalError(source: string, index: number, tokenStart: number): QuerySyntaxError {
  const after = source.slice(tokenStart, index);
  const char = source.charAt(index);
  const encountered =
    char === ""
      ? "<EOF>"
      : `"${char.charCodeAt(0) > 0x7e ? `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}` : char}" (${char.charCodeAt(0)})`;
  return new QuerySyntaxError(
    `Invalid content. Lexical error at line 1, column ${index + 1}. Encountered: ${encountered}, after : "${after}"`,
  );
}

function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  let index = 0;
  while (index < source.length) {
    const char = source.charAt(index);
    if (/\s/.test(char)) {
      index++;
    } else if (char === "'") {
      const at = index;
      let text = "";
      index++;
      for (;;) {
        if (index >= source.length) throw lexicalError(source, index, at);
        const next = source.charAt(index);
        if (LEXICAL_ERRORS.has(next)) throw lexicalError(source, index, at);
        if (next === "\\") {
          if (index + 1 >= source.length) throw lexicalError(source, index + 1, at);
          text += source.charAt(index + 1);
          index += 2;
        } else if (next === "'") {
          index++;
          break;
        } else {
          text += next;
          index++;
        }
      }
      tokens.push({ kind: "string", text, at });
    } else if ("*(),=".includes(char)) {
      tokens.push({ kind: "symbol", text: char, at: index });
      index++;
    } else {
      const match = /^(?:-?\d+(?:\.\d+)?|[A-Za-z_][A-Za-z0-9_.]*)/.exec(source.slice(index));
      if (!match) throw lexicalError(source, index, index);
      const text = match[0];
      tokens.push({ kind: /^-?\d/.test(text) ? "number" : "word", text, at: index });
      index += text.length;
    }
  }
  return tokens;
}
