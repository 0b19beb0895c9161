#!/usr/bin/env node
// aifabric conformance adapter, protocol version 1, for ajv (JSON Schema 2020-12) on Node.js.
//
// The suite starts `node adapter.js`, writes one JSON request per line to stdin and reads exactly one JSON answer
// per request from stdout (see README.md). Implemented: `validate` (ajv + ajv-formats against aifabric's published
// schemas, read from AIFABRIC_SCHEMAS_DIR, never the network) and `canonicalize` (RFC 8785 via the `canonicalize`
// package, with aifabric's I-JSON number rules). Every other operation is answered `skipped`.

import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import canonicalize from "canonicalize";

import * as formats from "./formats.js";

const PROTOCOL_VERSION = 1;
const HERE = dirname(fileURLToPath(import.meta.url));
const AJV_VERSION = JSON.parse(readFileSync(join(HERE, "node_modules", "ajv", "package.json"), "utf8")).version;
const BASE_URI = "https://aifabric.dev/schemas/";
const SCHEMA_URL = /^https:\/\/aifabric\.dev\/schemas\/[a-z][a-z0-9-]*\/\d+\.\d+\.\d+\.json$/;
const MAX_SAFE = 2 ** 53 - 1;

// --- numbers: a JSON reader that remembers what JavaScript's JSON.parse forgets ---------------------------------

class JsonReader {
  // A small recursive-descent JSON parser. Unlike JSON.parse it records numbers that no IEEE 754 double carries
  // exactly as written (an integer beyond ±(2**53 - 1), a literal that overflows to infinity), which RFC 8785
  // canonicalization must refuse (aifabric CORE-061); it keeps "__proto__" as an ordinary member; and it reads the
  // non-JSON tokens NaN, Infinity and -Infinity that Python's json.dumps writes for such values, as non-finite
  // numbers that canonicalization then refuses.
  constructor(text) {
    this.text = text;
    this.i = 0;
    this.unsafeNumbers = [];
  }

  static parse(text) {
    const reader = new JsonReader(text);
    reader.ws();
    const value = reader.value();
    reader.ws();
    if (reader.i !== text.length) reader.fail("trailing characters");
    return { value, unsafeNumbers: reader.unsafeNumbers };
  }

  fail(what) {
    throw new SyntaxError(`malformed JSON: ${what} at offset ${this.i}`);
  }

  ws() {
    while (this.i < this.text.length && " \t\n\r".includes(this.text[this.i])) this.i++;
  }

  value() {
    const c = this.text[this.i];
    if (c === "{") return this.object();
    if (c === "[") return this.array();
    if (c === '"') return this.string();
    for (const [word, val] of [["true", true], ["false", false], ["null", null], ["NaN", NaN], ["Infinity", Infinity], ["-Infinity", -Infinity]]) {
      if (this.text.startsWith(word, this.i)) {
        this.i += word.length;
        if (typeof val === "number") this.unsafeNumbers.push(word);
        return val;
      }
    }
    return this.number();
  }

  object() {
    const obj = {};
    this.i++;
    this.ws();
    if (this.text[this.i] === "}") {
      this.i++;
      return obj;
    }
    for (;;) {
      this.ws();
      if (this.text[this.i] !== '"') this.fail("expected a member name");
      const key = this.string();
      this.ws();
      if (this.text[this.i] !== ":") this.fail("expected ':'");
      this.i++;
      this.ws();
      Object.defineProperty(obj, key, { value: this.value(), enumerable: true, writable: true, configurable: true });
      this.ws();
      const c = this.text[this.i++];
      if (c === "}") return obj;
      if (c !== ",") this.fail("expected ',' or '}'");
    }
  }

  array() {
    const arr = [];
    this.i++;
    this.ws();
    if (this.text[this.i] === "]") {
      this.i++;
      return arr;
    }
    for (;;) {
      this.ws();
      arr.push(this.value());
      this.ws();
      const c = this.text[this.i++];
      if (c === "]") return arr;
      if (c !== ",") this.fail("expected ',' or ']'");
    }
  }

  string() {
    const re = /"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/y;
    re.lastIndex = this.i;
    const m = re.exec(this.text);
    if (m === null) this.fail("bad string");
    this.i = re.lastIndex;
    return JSON.parse(m[0]); // JSON.parse keeps escaped lone surrogates as they are
  }

  number() {
    const re = /-?(?:0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/y;
    re.lastIndex = this.i;
    const m = re.exec(this.text);
    if (m === null) this.fail("unexpected character");
    this.i = re.lastIndex;
    const n = Number(m[0]);
    const integral = m[1] === undefined && m[2] === undefined;
    if (!Number.isFinite(n) || (integral && Math.abs(n) > MAX_SAFE)) this.unsafeNumbers.push(m[0]);
    return n;
  }
}

// --- schemas -------------------------------------------------------------------------------------------------------

function schemasDir() {
  return resolve(process.env.AIFABRIC_SCHEMAS_DIR || join(HERE, "..", "..", "..", "schemas"));
}

function loadSchemas(root) {
  const schemas = [];
  for (const kind of readdirSync(root).sort()) {
    const folder = join(root, kind);
    if (!statSync(folder).isDirectory()) continue;
    for (const name of readdirSync(folder).sort()) {
      if (!name.endsWith(".json")) continue;
      const schema = JSON.parse(readFileSync(join(folder, name), "utf8"));
      if (typeof schema.$id === "string" && SCHEMA_URL.test(schema.$id.replace(/#$/, ""))) schemas.push(schema);
    }
  }
  return schemas;
}

function makeAjv(schemas) {
  const ajv = new Ajv2020({
    // Strict mode stays on for what it protects against (unknown keywords, unknown formats, keywords ignored
    // where they stand), with three relaxations aifabric's schemas need, each legal JSON Schema 2020-12:
    strict: true,
    // `properties`, `minimum`, `items`, `contains` without a sibling `type` (in `allOf`/`if`/`then` branches), and
    // union types ("type": ["string", "number"]).
    strictTypes: false,
    // `required` naming a property defined only in another `allOf` branch or in a `$ref`ed schema.
    strictRequired: false,
    // A name in `properties` that a `patternProperties` pattern also matches (the AI call facet lists the GenAI
    // attributes it constrains and lets other `gen_ai.*` names through by pattern): both apply, as 2020-12 says.
    allowMatchingProperties: true,
    allErrors: true,
    validateFormats: true,
    unicodeRegExp: true,
    logger: false,
    // aifabric never fetches a schema: a $ref to a URL not loaded here is a compile error.
    loadSchema: undefined,
  });
  addFormats(ajv, { mode: "full" });
  // Where ajv-formats departs from the RFCs JSON Schema 2020-12 names, formats.js has the RFC's grammar
  // (README.md: "Where ajv departs from JSON Schema"). AIFABRIC_AJV_STOCK_FORMATS=1 keeps ajv-formats' own, to
  // show those departures.
  if (process.env.AIFABRIC_AJV_STOCK_FORMATS !== "1") {
    ajv.addFormat("date-time", formats.dateTime);
    ajv.addFormat("date", formats.fullDate);
    ajv.addFormat("uuid", formats.uuid);
    ajv.addFormat("uri", formats.uri);
    ajv.addFormat("email", formats.email);
  }
  // The schema member that lists other standards' schema URLs an aifabric schema profiles: an annotation.
  ajv.addVocabulary(["x-aifabric-aliases"]);
  for (const schema of schemas) ajv.addSchema(schema);
  return ajv;
}

class Validators {
  constructor() {
    this.ajv = null;
    this.compiled = new Map();
    this.count = 0;
  }

  get(url) {
    let validate = this.compiled.get(url);
    if (validate !== undefined) return validate;
    if (this.ajv === null) this.ajv = makeAjv(loadSchemas(schemasDir()));
    const base = url.split("#", 1)[0];
    if (!SCHEMA_URL.test(base)) throw new UnknownSchema(`${url} is not an aifabric schema URL (${BASE_URI}<kind>/<X.Y.Z>.json)`);
    if (this.ajv.getSchema(base) === undefined) throw new UnknownSchema(`unknown schema URL ${url}: not in ${schemasDir()}`);
    this.count += 1;
    validate = this.ajv.compile({ $id: `urn:aifabric-adapter:ref:${this.count}`, $ref: url });
    this.compiled.set(url, validate);
    return validate;
  }
}

class UnknownSchema extends Error {}

// --- operations ----------------------------------------------------------------------------------------------------

const validators = new Validators();

function runValidate(testCase) {
  if (typeof testCase.schema !== "string") return { errored: { message: "a validate case needs a `schema` URL" } };
  let validate;
  try {
    validate = validators.get(testCase.schema);
  } catch (err) {
    if (err instanceof UnknownSchema) return { result: { valid: false, message: err.message } };
    throw err;
  }
  const valid = validate(testCase.data) === true;
  const message = valid ? undefined : validators.ajv.errorsText(validate.errors, { separator: "; ", dataVar: "" });
  return { result: valid ? { valid } : { valid, message } };
}

function runCanonicalize(testCase, unsafeNumbers) {
  if (unsafeNumbers.length > 0) {
    return { result: { valid: false, message: `number ${unsafeNumbers[0]} has no exact IEEE 754 double form` } };
  }
  try {
    return { result: { valid: true, output: canonicalize(testCase.data) } };
  } catch (err) {
    if (err instanceof RangeError) throw err; // the stack ran out: the adapter broke, the input was not refused
    return { result: { valid: false, message: String(err.message || err) } };
  }
}

const OPERATIONS = { validate: runValidate, canonicalize: runCanonicalize };

function handle(line) {
  let request;
  let unsafeNumbers;
  try {
    ({ value: request, unsafeNumbers } = JsonReader.parse(line));
  } catch (err) {
    const seq = /"seq"\s*:\s*(\d+)/.exec(line);
    return { seq: seq ? Number(seq[1]) : null, errored: { message: `cannot read the request: ${err.message}` } };
  }
  const seq = request === null || typeof request !== "object" ? null : request.seq;
  switch (request && request.cmd) {
    case "start":
      if (request.version !== PROTOCOL_VERSION) return { seq, ready: false, version: PROTOCOL_VERSION };
      return {
        seq,
        ready: true,
        version: PROTOCOL_VERSION,
        implementation: {
          name: "ajv",
          version: AJV_VERSION,
          language: "javascript",
          homepage: "https://ajv.js.org",
        },
        operations: Object.keys(OPERATIONS),
      };
    case "stop":
      return { seq, stopped: true };
    case "run": {
      const op = OPERATIONS[request.operation];
      if (op === undefined) return { seq, skipped: { reason: `ajv adapter does not implement ${JSON.stringify(request.operation)}` } };
      if (request.case === null || typeof request.case !== "object") return { seq, errored: { message: "`case` must be an object" } };
      try {
        return { seq, ...op(request.case, unsafeNumbers) };
      } catch (err) {
        return { seq, errored: { message: String(err && err.message ? err.message : err), context: err && err.stack ? String(err.stack) : undefined } };
      }
    }
    default:
      return { seq, errored: { message: `unknown command ${JSON.stringify(request && request.cmd)}` } };
  }
}

function main() {
  const rl = createInterface({ input: process.stdin, crlfDelay: Infinity, terminal: false });
  rl.on("line", (line) => {
    if (line.trim() === "") return;
    const answer = handle(line);
    process.stdout.write(`${JSON.stringify(answer)}\n`);
    if (answer.stopped === true) {
      rl.close();
      process.stdout.end(() => process.exit(0));
    }
  });
  rl.on("close", () => process.exitCode ?? 0);
}

main();
