// Test plugin (JavaScript): one component that misbehaves in the way its
// config's `mode` asks, so the host's sandbox tests run against a
// jco/componentize-js build too.
import { log, httpFetch } from 'villa:telemetry/host@0.1.0';

function fetchOutcome(url) {
  try {
    const resp = httpFetch({ method: 'GET', url, headers: [['x-test', '1']], body: undefined });
    return `ok ${resp.status} ${new TextDecoder().decode(resp.body)}`;
  } catch (e) {
    const v = e.payload ?? e;
    switch (v.tag) {
      case 'denied': return `denied: ${v.val}`;
      case 'timeout': return 'timeout';
      case 'too-large': return 'too-large';
      case 'transport': return `transport: ${v.val}`;
      default: return `unexpected: ${e}`;
    }
  }
}

function probe(action) {
  try {
    action();
    return 'ok';
  } catch (e) {
    return `err: ${e}`;
  }
}

function sandbox(input) {
  const env = Object.fromEntries(input.env);
  const fields = {
    env,
    // No ambient authority: no Node or Deno globals. StarlingMonkey keeps
    // a `fetch` even when built with `--disable http`, but the host links
    // every wasi:http function to a trap (mode 'builtin-fetch').
    globals: {
      process: typeof globalThis.process,
      require: typeof globalThis.require,
      Deno: typeof globalThis.Deno,
      fetch: typeof globalThis.fetch,
    },
  };
  console.log('hello from stdout');
  console.error('hello from stderr');
  const line = 'z'.repeat(1023);
  let flood = 'ok';
  for (let i = 0; i < 200; i++) {
    try {
      console.log(line);
    } catch (e) {
      flood = 'write failed';
    }
  }
  fields.flood = flood;
  return { status: 'pass', summary: 'probed', fieldsJson: JSON.stringify(fields) };
}

function badOutput(mode) {
  switch (mode) {
    case 'array': return { status: 'pass', summary: 'fields are an array', fieldsJson: '[1, 2, 3]' };
    case 'invalid': return { status: 'pass', summary: 'fields are not JSON', fieldsJson: '{"unterminated": ' };
    case 'huge-summary': return { status: 'pass', summary: 'x'.repeat(100 * 1024), fieldsJson: undefined };
    case 'huge-fields': return { status: 'pass', summary: 'big fields', fieldsJson: `{"blob":"${'y'.repeat(200 * 1024)}"}` };
    default: throw 'config says no';
  }
}

export function describe() {
  return JSON.stringify({ name: 'js-sandbox', language: 'javascript' });
}

export function run(input) {
  const config = JSON.parse(input.configJson);
  const mode = config.mode ?? 'pass';
  switch (mode) {
    case 'pass':
      log('info', `js-sandbox running ${input.checkId}`);
      return { status: 'pass', summary: 'ok', fieldsJson: JSON.stringify({ check_id: input.checkId }) };
    case 'loop': {
      let n = 0;
      for (;;) n++;
    }
    case 'membomb': {
      const hoard = [];
      for (;;) hoard.push(new Uint8Array(1024 * 1024).fill(1));
    }
    case 'sandbox':
      return sandbox(input);
    case 'fetch': {
      const http = (config.urls ?? []).map((url) => ({ url, outcome: fetchOutcome(url) }));
      return { status: 'pass', summary: 'fetched', fieldsJson: JSON.stringify({ http }) };
    }
    case 'panic':
      throw new Error('deliberate failure: the plugin gave up');
    case 'builtin-fetch':
      // Not through the host's allowlist: must never leave the sandbox.
      fetch(config.url);
      return { status: 'pass', summary: 'fetch returned', fieldsJson: undefined };
    default:
      return badOutput(mode);
  }
}
