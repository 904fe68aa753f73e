// status-page: a vendor's Atlassian Statuspage, component by component.
//
// Reads `<url>/api/v2/summary.json` through the host's `http-fetch` (so the
// page's host must be in the check's allow.http). A major outage fails the
// check; a partial outage, degraded performance or maintenance warns.
// Config:
//
//   url = "https://www.githubstatus.com"
//   components = ["API Requests", "Webhooks"]   # optional: only these
import { httpFetch } from 'villa:telemetry/host@0.1.0';

const SEVERITY = {
  operational: 0,
  under_maintenance: 1,
  degraded_performance: 1,
  partial_outage: 1,
  major_outage: 2,
};

function fetchSummary(url) {
  const summaryUrl = url.replace(/\/+$/, '') + '/api/v2/summary.json';
  let resp;
  try {
    resp = httpFetch({ method: 'GET', url: summaryUrl, headers: [['accept', 'application/json']], body: undefined });
  } catch (e) {
    const v = e.payload ?? {};
    throw `cannot fetch ${summaryUrl}: ${v.val ?? v.tag ?? e}`;
  }
  if (resp.status < 200 || resp.status > 299) {
    throw `${summaryUrl} answered HTTP ${resp.status}`;
  }
  try {
    return JSON.parse(new TextDecoder().decode(resp.body));
  } catch (e) {
    throw `${summaryUrl} did not answer JSON: ${e.message}`;
  }
}

export function describe() {
  return JSON.stringify({
    name: 'status-page',
    version: '0.1.0',
    language: 'javascript',
    config: {
      url: 'the status page, e.g. https://www.githubstatus.com',
      components: 'component names to watch (optional; default all)',
    },
  });
}

export function run(input) {
  const config = JSON.parse(input.configJson);
  if (typeof config.url !== 'string') throw 'config needs url (the status page)';
  const summary = fetchSummary(config.url);
  // Groups only aggregate their members: report the members.
  const all = (summary.components ?? []).filter((c) => !c.group);
  const wanted = Array.isArray(config.components) ? config.components : null;
  const watched = wanted ? all.filter((c) => wanted.includes(c.name)) : all;
  const missing = wanted ? wanted.filter((n) => !all.some((c) => c.name === n)) : [];

  const components = Object.fromEntries(watched.map((c) => [c.name, c.status]));
  const troubled = watched.filter((c) => (SEVERITY[c.status] ?? 1) > 0);
  const worst = Math.max(0, ...watched.map((c) => SEVERITY[c.status] ?? 1));
  const fields = {
    page: summary.page?.name ?? null,
    indicator: summary.status?.indicator ?? null,
    description: summary.status?.description ?? null,
    components,
    incidents: (summary.incidents ?? []).map((i) => i.name),
  };
  if (missing.length) fields.missing = missing;

  let status = worst === 2 ? 'fail' : worst === 1 ? 'warn' : 'pass';
  let text;
  if (troubled.length) {
    const list = troubled.map((c) => `${c.name} (${c.status.replace(/_/g, ' ')})`).join(', ');
    text = `${troubled.length} of ${watched.length} components not operational: ${list}`;
  } else {
    text = `all ${watched.length} components operational`;
  }
  if (missing.length) {
    if (status === 'pass') status = 'warn';
    text += `; not on the page: ${missing.join(', ')}`;
  }
  return { status, summary: text, fieldsJson: JSON.stringify(fields) };
}
