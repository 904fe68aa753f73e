//! The Python and JavaScript files `plugin new --lang python|js` writes.
//! Each sample check fetches `config.url` through the host's `http-fetch`
//! (so its host must be in the check's `allow.http`) and reports the status
//! code and body size as fields.

/// The language a new plugin is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    /// A Rust crate (`cargo build --target wasm32-wasip2`).
    #[default]
    Rust,
    /// A Python module (componentize-py).
    Python,
    /// A JavaScript module (componentize-js).
    Js,
}

impl Lang {
    /// The one command that builds the scaffolded plugin, run in its directory.
    pub fn build_command(self, name: &str) -> String {
        let wasm = name.replace('-', "_");
        match self {
            Lang::Rust => "cargo build --release --target wasm32-wasip2".into(),
            Lang::Python => {
                format!("componentize-py -d wit -w check-plugin componentize app -o {wasm}.wasm")
            }
            Lang::Js => format!(
                "componentize-js app.js --wit wit --world-name check-plugin --disable http -o {wasm}.wasm"
            ),
        }
    }

    /// Where the build leaves the component, relative to the plugin's directory.
    pub fn wasm_path(self, name: &str) -> String {
        let wasm = name.replace('-', "_");
        match self {
            Lang::Rust => format!("target/wasm32-wasip2/release/{wasm}.wasm"),
            Lang::Python | Lang::Js => format!("{wasm}.wasm"),
        }
    }
}

/// The componentize-js the scaffold's package.json pins (the one CI tests).
const COMPONENTIZE_JS: &str = "0.23.0";
/// The WASI shim componentize-js 0.23.0 imports without declaring it (it
/// only resolves through jco's optional peer dependency): pinned beside it,
/// or a fresh `npm install` cannot build (0.25.0 is the one that reads the
/// WIT directory; 0.26.1 has no preopen).
const PREVIEW2_SHIM: &str = "0.25.0";
/// The componentize-py the README names (the one CI tests).
const COMPONENTIZE_PY: &str = "0.25.1";

pub(super) fn app_py(name: &str) -> String {
    format!(
        r#""""villa-telemetry check plugin `{name}` (Python, built with componentize-py)."""

import json

import wit_world
from wit_world.imports import host, types
from componentize_py_types import Err


class WitWorld(wit_world.WitWorld):
    def describe(self) -> str:
        """Shown by `villa-telemetry plugin info`."""
        return json.dumps({{"name": "{name}", "version": "0.1.0", "config": {{"url": "what to fetch"}}}})

    def run(self, input: types.CheckInput) -> types.CheckOutput:
        # The check's [checks.plugin] config table, as JSON.
        config = json.loads(input.config_json)
        url = config.get("url")
        if not isinstance(url, str):
            # Raising Err(...) makes the check an error with this reason.
            raise Err("config needs url")
        host.log(host.LogLevel.INFO, "fetching " + url)
        req = host.HttpRequest(method="GET", url=url, headers=[], body=None)
        try:
            resp = host.http_fetch(req)
        except Err as e:
            raise Err("cannot fetch %s: %s" % (url, getattr(e.value, "value", e.value)))
        fields = {{"check_id": input.check_id, "status_code": resp.status, "bytes": len(resp.body)}}
        ok = 200 <= resp.status < 300
        return types.CheckOutput(
            types.Status.PASS if ok else types.Status.FAIL,
            "%s answered %d" % (url, resp.status),
            json.dumps(fields),
        )
"#
    )
}

pub(super) fn app_js(name: &str) -> String {
    format!(
        r#"// villa-telemetry check plugin `{name}` (JavaScript, built with componentize-js).
import {{ log, httpFetch }} from 'villa:telemetry/host@0.1.0';

/** Shown by `villa-telemetry plugin info`. */
export function describe() {{
  return JSON.stringify({{ name: '{name}', version: '0.1.0', config: {{ url: 'what to fetch' }} }});
}}

export function run(input) {{
  // The check's [checks.plugin] config table, as JSON.
  const config = JSON.parse(input.configJson);
  // Throwing a string makes the check an error with this reason.
  if (typeof config.url !== 'string') throw 'config needs url';
  log('info', `fetching ${{config.url}}`);
  let resp;
  try {{
    resp = httpFetch({{ method: 'GET', url: config.url, headers: [], body: undefined }});
  }} catch (e) {{
    const why = e.payload ?? {{}};
    throw `cannot fetch ${{config.url}}: ${{why.val ?? why.tag ?? e}}`;
  }}
  const fields = {{ check_id: input.checkId, status_code: resp.status, bytes: resp.body.length }};
  const ok = resp.status >= 200 && resp.status < 300;
  return {{
    status: ok ? 'pass' : 'fail',
    summary: `${{config.url}} answered ${{resp.status}}`,
    fieldsJson: JSON.stringify(fields),
  }};
}}
"#
    )
}

pub(super) fn package_json(name: &str) -> String {
    format!(
        r#"{{
  "name": "{name}",
  "version": "0.1.0",
  "private": true,
  "type": "module",
  "scripts": {{
    "build": "{}"
  }},
  "devDependencies": {{
    "@bytecodealliance/componentize-js": "{COMPONENTIZE_JS}",
    "@bytecodealliance/preview2-shim": "{PREVIEW2_SHIM}"
  }}
}}
"#,
        Lang::Js.build_command(name)
    )
}

pub(super) fn readme(name: &str, lang: Lang) -> String {
    let wasm = lang.wasm_path(name);
    let (install, build) = match lang {
        Lang::Python => (
            format!(
                "    python3 -m venv .venv && .venv/bin/pip install componentize-py=={COMPONENTIZE_PY}"
            ),
            format!("    .venv/bin/{}", Lang::Python.build_command(name)),
        ),
        _ => ("    npm install".to_owned(), "    npm run build".to_owned()),
    };
    let language = if lang == Lang::Python {
        "Python"
    } else {
        "JavaScript"
    };
    format!(
        r#"# {name}

A villa-telemetry check plugin in {language} (WIT `villa:telemetry@0.1.0`,
world `check-plugin`, copied in `wit/`; the bindings are generated from it
at build time).

Install the toolchain once:

{install}

Build:

{build}

The plugin is `{wasm}`. Use it from a check; the sample fetches `url`
through the host, so its host must be allowed:

```toml
[[checks]]
id = "{name}"
[checks.plugin]
wasm = "path/to/{wasm}"
config = {{ url = "https://example.com/health" }}
allow = {{ http = ["example.com"] }}
```

The sandbox gives the plugin no files, no network but `http-fetch` to the
hosts in `allow.http`, and no environment variables but those in
`allow.env`. Try it with `villa-telemetry plugin info {wasm}`.
"#
    )
}
