// Stand-in for `villa-telemetry serve` when only the templates are under test:
// serves one rendered HTML page at / and an SSE stream that stays open, so the
// live page behaves as against the real server. Kill it to exercise the offline state.
//
//   node tests/browser/fixture-server.mjs PAGE.html [PORT]   (prints "LISTENING <url>")

import { createServer } from "node:http";
import { readFile } from "node:fs/promises";

const [file, port = "3993"] = process.argv.slice(2);
if (!file) {
  console.error("usage: node fixture-server.mjs PAGE.html [PORT]");
  process.exit(2);
}

const server = createServer(async (req, res) => {
  const url = new URL(req.url, "http://127.0.0.1");
  if (url.pathname === "/api/telemetry/events") {
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-store" });
    res.write(": connected\n\n");
    const ping = setInterval(() => res.write(": ping\n\n"), 15000);
    req.on("close", () => clearInterval(ping));
    return;
  }
  if (url.pathname === "/") {
    res.writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" });
    res.end(await readFile(file));
    return;
  }
  res.writeHead(404).end();
});

server.listen(Number(port), "127.0.0.1", () => console.log(`LISTENING http://127.0.0.1:${port}/`));
